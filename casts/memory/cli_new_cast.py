"""``memory-casts new-cast NAME --from CAST``: start a cast from an existing one."""

from __future__ import annotations

import argparse
from pathlib import Path

from casts.memory.new_cast import new_cast


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
