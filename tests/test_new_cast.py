"""``memory-casts new-cast`` in a temporary copy of the project: files, tests, served graph."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from casts.memory.cli.main import amain
from tests.dev_server import PROJECT, serving

COPIED = ("casts", "tests", "langgraph.json", "pyproject.toml")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project without .venv, .data and caches."""
    root = tmp_path / "project"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".langgraph*")
    for name in COPIED:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    return root


async def new_cast(project: Path, capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await amain(["new-cast", *argv, "--root", str(project)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def graphs(project: Path) -> dict[str, str]:
    return json.loads((project / "langgraph.json").read_text())["graphs"]


async def test_new_cast_copies_renames_and_registers(project, capsys):
    before = graphs(project)
    code, out, err = await new_cast(project, capsys, "tour_planner", "--from", "user_profile")
    assert code == 0, err
    assert "TourPlannerGraph" in out and "tests/test_tour_planner_cast.py" in out
    # What to do next, since a running server serves the new graph only after a restart.
    next_steps = out[out.index("next:") :]
    assert "pytest tests/test_tour_planner_cast.py" in next_steps
    assert "restart" in next_steps and "'tour_planner'" in next_steps
    folder = project / "casts" / "tour_planner"
    assert {p.name for p in folder.iterdir()} >= {"graph.py", "nodes.py", "modules", "__init__.py"}
    assert not list(folder.rglob("__pycache__"))
    graph_py = (folder / "graph.py").read_text()
    assert "class TourPlannerGraph(BaseGraph)" in graph_py
    assert 'name = "tour_planner"' in graph_py
    assert "graph = TourPlannerGraph()()" in graph_py
    for path in [*folder.rglob("*.py"), project / "tests" / "test_tour_planner_cast.py"]:
        text = path.read_text()
        assert "casts.user_profile" not in text and "UserProfileGraph" not in text, path
    # Shared modules the cast imports stay as they are.
    assert shared_imports(folder / "nodes.py") == shared_imports(
        project / "casts/user_profile/nodes.py"
    )
    assert graphs(project) == {**before, "tour_planner": "./casts/tour_planner/graph.py:graph"}
    test = (project / "tests" / "test_tour_planner_cast.py").read_text()
    assert "from casts.tour_planner.graph import TourPlannerGraph" in test
    # The source is untouched.
    assert "class UserProfileGraph" in (project / "casts/user_profile/graph.py").read_text()


def shared_imports(path: Path) -> list[str]:
    """What a cast file imports from the shared package (``module:name``), in order."""
    tree = ast.parse(path.read_text())
    return [
        f"{node.module}:{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("casts.memory")
        for alias in node.names
    ]


async def test_other_classes_with_the_cast_prefix_are_renamed(project, capsys):
    code, _, err = await new_cast(project, capsys, "field_notes", "--from", "knowledge")
    assert code == 0, err
    graph_py = (project / "casts/field_notes/graph.py").read_text()
    assert "class FieldNotesGraph(BaseGraph)" in graph_py and 'name = "field_notes"' in graph_py
    # ``knowledge`` is also a shared module: what the cast imports from the package survives.
    assert shared_imports(project / "casts/field_notes/nodes.py") == shared_imports(
        project / "casts/knowledge/nodes.py"
    )


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("user_profile", "user_profile", "casts/user_profile already exists"),
        ("memory", "user_profile", "reserved"),
        ("Travel", "user_profile", "lower-case Python identifier"),
        ("travel-agent", "user_profile", "lower-case Python identifier"),
        ("1agent", "user_profile", "lower-case Python identifier"),
        ("class", "user_profile", "lower-case Python identifier"),
        ("fresh", "nope", "no cast 'nope' to copy"),
    ],
)
async def test_new_cast_refuses_and_creates_nothing(project, capsys, name, source, expected):
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    config = (project / "langgraph.json").read_text()
    code, out, err = await new_cast(project, capsys, name, "--from", source)
    assert code == 2 and out == ""
    assert expected in err
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert (project / "langgraph.json").read_text() == config


async def test_a_name_already_served_is_refused(project, capsys):
    config = json.loads((project / "langgraph.json").read_text())
    config["graphs"]["orphan"] = "./elsewhere.py:graph"
    (project / "langgraph.json").write_text(json.dumps(config))
    code, _, err = await new_cast(project, capsys, "orphan", "--from", "user_profile")
    assert code == 2 and "already serves a graph called 'orphan'" in err
    assert not (project / "casts" / "orphan").exists()


def run_tests(project: Path, env: Mapping[str, str], *files: str) -> subprocess.CompletedProcess:
    """The copy's own tests, with the copy's ``casts`` package first on the path."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=project,
        env={**os.environ, **env, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@contextlib.contextmanager
def dev_server_in(project: Path, env: Mapping[str, str]) -> Iterator[str]:
    """`langgraph dev` serving the copy's langgraph.json (without env and auth)."""
    config = json.loads((project / "langgraph.json").read_text())
    config["env"] = {}
    config.pop("auth", None)
    config_path = project / ".langgraph.test.json"
    config_path.write_text(json.dumps(config))
    with serving(
        config_path, {**env, "PYTHONPATH": str(project)}, cwd=project, log_dir=project
    ) as url:
        yield url


@pytest.mark.server
@pytest.mark.slow
async def test_the_new_cast_passes_its_tests_and_is_served(project, capsys, postgres_uri):
    assert (await new_cast(project, capsys, "tour_planner", "--from", "user_profile"))[0] == 0
    # A source without a test of its own gets a smoke test.
    (project / "tests" / "test_session_scratch_cast.py").unlink()
    code, out, err = await new_cast(project, capsys, "trip_notes", "--from", "session_scratch")
    assert code == 0, err
    assert "a smoke test" in out

    result = run_tests(
        project,
        {"POSTGRES_URI": postgres_uri},
        "tests/test_tour_planner_cast.py",
        "tests/test_trip_notes_cast.py",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # casts.tour_planner exists only in the copy: passing means the copy's package ran.
    summary = result.stdout.strip().splitlines()[-1]
    source = (PROJECT / "tests/test_user_profile_cast.py").read_text()
    copied = len(re.findall(r"^(?:async )?def test_", source, re.M))
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= copied + 2 and "failed" not in summary and "error" not in summary

    with dev_server_in(project, {"MEMORY_BACKEND": "memory"}) as url:
        client = get_client(url=url)
        served = {a["graph_id"] for a in await client.assistants.search(limit=100)}
        assert {"tour_planner", "trip_notes", "user_profile"} <= served
        (assistant,) = await client.assistants.search(graph_id="tour_planner")
        thread = await client.threads.create()
        out = await client.runs.wait(
            thread["thread_id"],
            assistant["assistant_id"],
            input={"set_fields": {"name": "Ada"}},
            context={"user_id": "ada@example.com"},
        )
        assert out["profile"] == {"name": "Ada"}
