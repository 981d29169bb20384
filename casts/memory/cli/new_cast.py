"""Start a new cast from an existing one (``memory-casts new-cast NAME --from CAST``).

Copying a cast by hand means renaming in four places and forgetting one; this does all of
them, and refuses rather than overwrites:

- ``casts/CAST`` is copied to ``casts/NAME`` (caches left out);
- in the copy and its test, imports ``casts.CAST`` become ``casts.NAME``, the graph class
  (the ``BaseGraph`` subclass in ``graph.py``) becomes ``<Name>Graph``, other classes the
  cast defines whose names start with ``<Cast>`` get ``<Name>`` instead, and the graph's
  ``name = "CAST"`` becomes ``name = "NAME"``. Only those: a cast called ``knowledge`` uses
  ``casts.memory.kinds.knowledge``, which must stay;
- ``langgraph.json`` gets ``"NAME": "./casts/NAME/graph.py:graph"``;
- ``tests/test_NAME_cast.py`` is the source cast's test (``tests/test_CAST_cast.py`` or
  ``tests/test_CAST.py``) adapted the same way, or a smoke test that builds and runs the
  graph's compile when the source has none.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from casts.memory.core.errors import MemoryCastError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED = frozenset({"memory", "base_graph", "base_node"})
_TEXT_SUFFIXES = {".py", ".md", ".txt", ".json", ".toml", ".yaml", ".yml"}

SMOKE_TEST = '''"""Smoke test of the {name} cast (made by memory-casts new-cast from {source})."""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph

from casts.{name}.graph import {graph_class}, graph


def test_the_served_graph_compiles_without_persistence():
    assert isinstance(graph, CompiledStateGraph)
    assert graph.name == "{name}"


def test_the_graph_builds_with_the_store(store, checkpointer):
    built = {graph_class}().build(store=store, checkpointer=checkpointer)
    assert built.store is store
'''


class NewCastError(MemoryCastError, ValueError):
    """The new cast cannot be made (bad name, existing cast, unknown source)."""


@dataclass
class NewCast:
    """What ``new_cast`` created.

    Attributes:
        folder: The new cast's folder.
        test: The new cast's test file.
        graph_class: The new graph class's name.
        copied_test: Whether the test was adapted from the source cast's (else a smoke test).
    """

    folder: Path
    test: Path
    graph_class: str
    copied_test: bool


def camel(name: str) -> str:
    """``user_profile`` -> ``UserProfile``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def check_name(name: str, root: Path) -> None:
    """A new cast name is a fresh lower-case Python identifier.

    Raises:
        NewCastError: Saying what is wrong with the name.
    """
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise NewCastError(
            f"cast name {name!r} must be a lower-case Python identifier (letters, digits, "
            "underscores, starting with a letter), e.g. travel_agent"
        )
    if name in RESERVED:
        raise NewCastError(f"cast name {name!r} is reserved by the project")
    if (root / "casts" / name).exists() or (root / "casts" / f"{name}.py").exists():
        raise NewCastError(f"casts/{name} already exists; choose another name")
    graphs = _config(root).get("graphs", {})
    if name in graphs:
        raise NewCastError(f"langgraph.json already serves a graph called {name!r}")
    if (root / "tests" / f"test_{name}_cast.py").exists():
        raise NewCastError(f"tests/test_{name}_cast.py already exists")


def _config(root: Path) -> dict:
    path = root / "langgraph.json"
    if not path.is_file():
        raise NewCastError(
            f"{root} has no langgraph.json: run from the project root or pass --root"
        )
    return json.loads(path.read_text())


def _renames(source: str, name: str, source_dir: Path) -> list[tuple[re.Pattern[str], str]]:
    graph_file = source_dir / "graph.py"
    graph_classes = re.findall(r"^class (\w+)\(BaseGraph\)", graph_file.read_text(), re.M)
    if not graph_classes:
        raise NewCastError(f"casts/{source}/graph.py defines no BaseGraph subclass to rename")
    defined: set[str] = set()
    for path in source_dir.rglob("*.py"):
        defined.update(re.findall(r"^class (\w+)", path.read_text(), re.M))
    renames: list[tuple[re.Pattern[str], str]] = [
        (re.compile(rf"\bcasts([./]){re.escape(source)}\b"), rf"casts\g<1>{name}"),
        (
            re.compile(rf"^(\s*name\s*=\s*)([\"']){re.escape(source)}\2", re.M),
            rf"\g<1>\g<2>{name}\g<2>",
        ),
    ]
    new_graph = f"{camel(name)}Graph"
    for old in graph_classes:
        renames.append((re.compile(rf"\b{re.escape(old)}\b"), new_graph))
    prefix = camel(source)
    for old in sorted(defined - set(graph_classes), key=len, reverse=True):
        if old.startswith(prefix):
            renames.append((re.compile(rf"\b{re.escape(old)}\b"), camel(name) + old[len(prefix) :]))
    return renames


def _rewrite(text: str, renames: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in renames:
        text = pattern.sub(replacement, text)
    return text


def source_test(root: Path, source: str) -> Path | None:
    """The source cast's test file, when it has one."""
    for candidate in (f"test_{source}_cast.py", f"test_{source}.py"):
        path = root / "tests" / candidate
        if path.is_file():
            return path
    return None


def new_cast(root: Path, name: str, source: str) -> NewCast:
    """Create cast ``name`` from cast ``source`` in the project at ``root``.

    Raises:
        NewCastError: Bad or existing name, unknown source; nothing is created then.
    """
    root = root.resolve()
    source_dir = root / "casts" / source
    if not (source_dir / "graph.py").is_file():
        known = sorted(p.parent.name for p in (root / "casts").glob("*/graph.py"))
        raise NewCastError(f"no cast {source!r} to copy; casts: {', '.join(known)}")
    check_name(name, root)
    config = _config(root)
    renames = _renames(source, name, source_dir)
    target = root / "casts" / name
    shutil.copytree(source_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in target.rglob("*"):
        if path.is_file() and path.suffix in _TEXT_SUFFIXES:
            path.write_text(_rewrite(path.read_text(), renames))
    config.setdefault("graphs", {})[name] = f"./casts/{name}/graph.py:graph"
    (root / "langgraph.json").write_text(json.dumps(config, indent=2) + "\n")
    test = root / "tests" / f"test_{name}_cast.py"
    original = source_test(root, source)
    graph_class = f"{camel(name)}Graph"
    if original is not None:
        test.write_text(_rewrite(original.read_text(), renames))
    else:
        test.write_text(SMOKE_TEST.format(name=name, source=source, graph_class=graph_class))
    return NewCast(
        folder=target, test=test, graph_class=graph_class, copied_test=original is not None
    )


async def run_new_cast(args: argparse.Namespace) -> int:
    """Copy and rename the cast, register its graph, write its test; print what was made.

    Then print what to do next: a running server loaded ``langgraph.json`` when it started,
    so it serves the new graph only once restarted, which is easy to miss.
    """
    root = Path(args.root)
    made = new_cast(root, args.name, args.source)
    origin = "adapted from the source cast's test" if made.copied_test else "a smoke test"
    folder = made.folder.relative_to(root.resolve())
    test = made.test.relative_to(root.resolve())
    print(f"created {folder}/ (graph class {made.graph_class})")
    print(f"registered {args.name!r} in langgraph.json")
    print(f"wrote {test} ({origin})")
    print("next:")
    readme = " and its README.md" if (made.folder / "README.md").is_file() else ""
    print(f"  1. edit {folder}/ (graph.py, nodes.py, modules/){readme}")
    print(f"  2. run its test: .venv/bin/python -m pytest {test}")
    print(
        f"  3. restart `make dev` (or `langgraph dev`): a running server serves {args.name!r} "
        "only after a restart"
    )
    return 0


def add_new_cast(commands: argparse._SubParsersAction) -> None:
    """Register ``new-cast``."""
    parser = commands.add_parser("new-cast", help="create a cast by copying another")
    parser.add_argument("name", help="the new cast's name, a lower-case identifier")
    parser.add_argument("--from", dest="source", required=True, help="the cast to copy")
    parser.add_argument("--root", default=".", help="project root (default: current directory)")
    parser.set_defaults(run=run_new_cast)
