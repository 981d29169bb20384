"""``memory-casts new-cast NAME --from CAST``: start a cast from an existing one."""

from __future__ import annotations

import argparse
from pathlib import Path

from casts.memory.new_cast import new_cast


async def run_new_cast(args: argparse.Namespace) -> int:
    """Copy and rename the cast, register its graph, write its test; print what was made."""
    root = Path(args.root)
    made = new_cast(root, args.name, args.source)
    origin = "adapted from the source cast's test" if made.copied_test else "a smoke test"
    print(f"created {made.folder.relative_to(root.resolve())}/ (graph class {made.graph_class})")
    print(f"registered {args.name!r} in langgraph.json")
    print(f"wrote {made.test.relative_to(root.resolve())} ({origin})")
    return 0


def add_new_cast(commands: argparse._SubParsersAction) -> None:
    """Register ``new-cast``."""
    parser = commands.add_parser("new-cast", help="create a cast by copying another")
    parser.add_argument("name", help="the new cast's name, a lower-case identifier")
    parser.add_argument("--from", dest="source", required=True, help="the cast to copy")
    parser.add_argument("--root", default=".", help="project root (default: current directory)")
    parser.set_defaults(run=run_new_cast)
