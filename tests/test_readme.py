"""The READMEs work as written: their code blocks run, and the image described is sane.

Every fenced ``python`` / ``bash`` block of README.md and of every cast's README runs, unless
its first line says why it cannot (``# not run by tests/test_readme.py: ...``): Python blocks
as scripts against a real `langgraph dev` (the documented URL replaced by the test server's),
bash blocks with the virtual environment on ``PATH``, in an empty directory, against a fresh
PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_EMBEDDINGS
from tests.dev_server import PROJECT, running_dev_server

README = PROJECT / "README.md"
READMES = [README, *sorted(PROJECT.glob("casts/*/README.md"))]
DOCUMENTED_URL = "http://127.0.0.1:2025"
NOT_RUN = "# not run by tests/test_readme.py:"
LANGUAGES = {"python", "bash"}
BLOCK = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```$", re.M | re.S)
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    """One fenced code block of a markdown file."""

    path: Path
    line: int
    lang: str
    body: str

    @property
    def runs(self) -> bool:
        return not self.body.startswith(NOT_RUN)

    def __str__(self) -> str:
        return f"{self.path.relative_to(PROJECT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [
        Block(path, text.count("\n", 0, m.start()) + 1, m["lang"].strip(), m["body"])
        for m in BLOCK.finditer(text)
    ]


def runnable(lang: str) -> list[Block]:
    return [
        block for path in READMES for block in blocks(path) if block.lang == lang and block.runs
    ]


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_every_cast_has_a_readme():
    casts = {path.parent for path in PROJECT.glob("casts/*/graph.py")}
    assert casts == {path.parent for path in READMES[1:]}


def test_every_block_is_python_or_bash_and_runs_or_says_why_not():
    assert runnable("python") and runnable("bash")
    for block in (block for path in READMES for block in blocks(path)):
        assert block.lang in LANGUAGES, f"{block}: fence the block as python or bash"
        if not block.runs:
            reason = block.body.splitlines()[0][len(NOT_RUN) :].strip()
            assert reason, f"{block}: say why the block is not run"


def test_the_python_blocks_that_reach_a_server_use_the_documented_url():
    for block in runnable("python"):
        if "get_client" in block.body or "get_sync_client" in block.body:
            assert DOCUMENTED_URL in block.body, block


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev` as the quickstart describes it, on an in-memory store."""
    env = {"MEMORY_BACKEND": "memory", "OPENAI_API_KEY": ""}
    with running_dev_server(env, tmp_path_factory.mktemp("readme-server")) as url:
        yield url


def script_env() -> dict[str, str]:
    """The environment of a user of the project's venv: its bin first, the project importable."""
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(PROJECT),
    }


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("block", runnable("python"), ids=str)
def test_python_block_runs_as_a_script(
    block: Block, server: str, fresh_database: str, tmp_path: Path
):
    script = tmp_path / "block.py"
    script.write_text(block.body.replace(DOCUMENTED_URL, server))
    # A block that opens the configured store itself gets a database of its own.
    env = {**script_env(), **TEST_EMBEDDINGS}
    env |= {"POSTGRES_URI": fresh_database, "MEMORY_BACKEND": "postgres"}
    result = run([sys.executable, str(script)], tmp_path, env)
    assert result.returncode == 0, f"{block}:\n{result.stdout}\n{result.stderr}"


@pytest.mark.postgres
@pytest.mark.parametrize("block", runnable("bash"), ids=str)
def test_bash_block_runs(block: Block, fresh_database: str, tmp_path: Path):
    env = {**script_env(), "POSTGRES_URI": fresh_database, "MEMORY_BACKEND": "postgres"}
    result = run(["bash", "-euo", "pipefail", "-c", block.body], tmp_path, env)
    assert result.returncode == 0, f"{block}:\n{result.stdout}\n{result.stderr}"


def test_names_the_readmes_tell_users_to_create_are_not_used_by_the_tests():
    """A user who follows the README must not break `make test` (their cast gets copied)."""
    created = set()
    for path in READMES:
        created.update(re.findall(r"new-cast ([a-z]\w*)", path.read_text()))
    assert created
    for test in sorted((PROJECT / "tests").glob("*.py")):
        text = test.read_text()
        # A user's own cast brings its test, which of course names it.
        used = {
            name
            for name in created
            if re.search(rf"\b{name}\b", text) and test.name != f"test_{name}_cast.py"
        }
        assert not used, f"{test.name} uses {sorted(used)}, which a README tells users to create"


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Dockerfile `langgraph build` would build, written by `langgraph dockerfile`."""
    out = tmp_path_factory.mktemp("dockerfile") / "Dockerfile"
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}
    result = run([str(VENV_BIN / "langgraph"), "dockerfile", str(out)], PROJECT, env)
    assert result.returncode == 0, result.stdout + result.stderr
    return out.read_text()


def test_the_image_installs_the_pinned_lock_before_the_project(dockerfile: str):
    lines = dockerfile.splitlines()
    copy = next(i for i, line in enumerate(lines) if re.match(r"COPY requirements\.lock ", line))
    target = lines[copy].split()[-1]
    install = next(i for i, line in enumerate(lines) if f"-r {target}" in line)
    project = next(i for i, line in enumerate(lines) if line.startswith("ADD . "))
    assert copy < install < project
    # The base image's API server is the version the lock pins.
    (pinned,) = re.findall(
        r"^langgraph-api==(\S+)$", (PROJECT / "requirements.lock").read_text(), re.M
    )
    assert lines[0] == f"FROM langchain/langgraph-api:{pinned}-py3.11"


def test_the_build_context_leaves_out_the_venv_data_and_secrets():
    patterns = {
        line.strip().rstrip("/")
        for line in (PROJECT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".data", ".git", ".env"} <= patterns
    # What the image needs stays in.
    needed = {"casts", "pyproject.toml", "README.md", "langgraph.json", "requirements.lock"}
    assert not needed & patterns
    config = json.loads((PROJECT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
