"""Every cast stands alone: copied into a project holding only ``casts/base_*.py``, the shared
package ``casts/memory/``, that cast and its test, it passes its test and is served by
`langgraph dev`. So does a cast made by ``memory-casts new-cast`` once its source is gone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from casts.memory.cli.new_cast import new_cast, source_test
from tests.conftest import TEST_EMBEDDINGS
from tests.dev_server import PROJECT, serving

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.postgres]

CASTS = sorted(json.loads((PROJECT / "langgraph.json").read_text())["graphs"])
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")
SHARED = ("__init__.py", "base_node.py", "base_graph.py")
ISOLATION = """\
# Written by tests/test_standalone_casts.py: forget the editable install of the original
# project, so a module missing here fails to import instead of being found there.
import sys

sys.meta_path[:] = [
    finder
    for finder in sys.meta_path
    if not getattr(finder, "__module__", "").startswith("__editable__")
]
"""


def bare_project(root: Path, cast: str) -> Path:
    """A project with the shared parts, the test support files and one cast with its test."""
    (root / "casts").mkdir(parents=True)
    for name in SHARED:
        shutil.copy2(PROJECT / "casts" / name, root / "casts" / name)
    shutil.copytree(PROJECT / "casts" / "memory", root / "casts" / "memory", ignore=IGNORED)
    shutil.copytree(PROJECT / "casts" / cast, root / "casts" / cast, ignore=IGNORED)
    shutil.copy2(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "tests").mkdir()
    for support in (PROJECT / "tests").glob("*.py"):
        if not support.name.startswith("test_"):
            shutil.copy2(support, root / "tests" / support.name)
    test = source_test(PROJECT, cast)
    assert test is not None, f"cast {cast} has no test"
    shutil.copy2(test, root / "tests" / test.name)
    write_config(root, [cast])
    (root / "sitecustomize.py").write_text(ISOLATION)
    return root


def write_config(root: Path, graphs: list[str]) -> None:
    config = json.loads((PROJECT / "langgraph.json").read_text())
    config["graphs"] = {name: f"./casts/{name}/graph.py:graph" for name in graphs}
    (root / "langgraph.json").write_text(json.dumps(config, indent=2))


def isolated_env(root: Path, postgres_uri: str) -> dict[str, str]:
    """The environment of a process that must import the bare project, never this one."""
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "POSTGRES_URI": postgres_uri,
        "CI": "true",
    }


def run_tests(root: Path, postgres_uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=isolated_env(root, postgres_uri),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


async def assert_served(root: Path, cast: str, postgres_uri: str, log_dir: Path) -> None:
    env = {
        "PYTHONPATH": str(root),
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": postgres_uri,
        "OPENAI_API_KEY": "",
        **TEST_EMBEDDINGS,
    }
    config = json.loads((root / "langgraph.json").read_text())
    config["env"] = {}
    (root / "langgraph.json").write_text(json.dumps(config))
    with serving(root / "langgraph.json", env, cwd=root, log_dir=log_dir) as url:
        assistants = await get_client(url=url).assistants.search(limit=20)
        assert [a["graph_id"] for a in assistants] == [cast]


@pytest.mark.parametrize("cast", CASTS)
async def test_a_cast_alone_passes_its_test_and_is_served(cast, tmp_path, fresh_database):
    root = bare_project(tmp_path / "project", cast)
    run_tests(root, fresh_database)
    await assert_served(root, cast, fresh_database, tmp_path)


async def test_a_new_cast_stands_alone_once_its_source_is_gone(tmp_path, fresh_database):
    root = bare_project(tmp_path / "project", "memory_agent")
    new_cast(root, "concierge_agent", "memory_agent")
    shutil.rmtree(root / "casts" / "memory_agent")
    (root / "tests" / "test_memory_agent.py").unlink()
    write_config(root, ["concierge_agent"])
    run_tests(root, fresh_database)
    await assert_served(root, "concierge_agent", fresh_database, tmp_path)
