"""The ``memory-casts`` command: subcommands over the project's store.

Each command is one ``add_*`` function registering an argparse subparser with a ``run``
coroutine, so more commands (ls, get, put, export, ...) plug in the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from langgraph.store.base import BaseStore

from casts.memory.cli.forget import add_forget_user
from casts.memory.cli.new_cast import add_new_cast
from casts.memory.cli.store import add_store_commands
from casts.memory.core.errors import MemoryCastError
from casts.memory.evaluation.locomo import load_directory
from casts.memory.evaluation.measure import evaluate, format_table, hybrid, stock
from casts.memory.recall.fusion import DEFAULT_LEXICAL_WEIGHT, Weights
from casts.memory.settings import Settings, current, using
from casts.memory.store.embeddings import make_embeddings
from casts.memory.store.persistence import open_store
from casts.memory.store.transfer import DEFAULT_BATCH


def _ks(raw: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k {raw!r}: give whole numbers like 1,5,10") from None
    if not ks or ks[0] < 1:
        raise argparse.ArgumentTypeError("--k needs positive whole numbers")
    return ks


def _weight(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("--lexical-weight must be between 0 and 1")
    return value


def eval_settings(backend: str, embeddings: str, base: Settings | None = None) -> Settings:
    """Settings for an evaluation: ``memory``, or ``postgres`` (POSTGRES_URI, else embedded).

    Args:
        backend: ``memory`` or ``postgres``.
        embeddings: The ``MEMORY_EMBEDDINGS`` choice to evaluate.
        base: The settings to start from; the process's (``settings.current()``) by default.
    """
    base = base or current()
    postgres = "postgres" if base.postgres_uri else "embedded"
    chosen = "memory" if backend == "memory" else postgres
    return base.model_copy(update={"backend": chosen, "embeddings": embeddings})


async def run_eval_recall(args: argparse.Namespace) -> int:
    """``memory-casts eval recall``: recall@k, ingest rate and latency, ours vs stock."""
    conversations = load_directory(Path(args.data), with_dates=not args.no_dates)
    settings = eval_settings(args.backend, args.embeddings)
    built = make_embeddings(settings)
    rankers = {"recall": hybrid(Weights(lexical=args.lexical_weight))}
    if built is not None:
        rankers["lexical"] = hybrid(Weights(lexical=1.0))
    rankers["baseline"] = stock
    async with open_store(settings) as store:
        report = await evaluate(
            store,
            conversations,
            rankers,
            ks=args.k,
            embeddings=built[0] if built else None,
            batch_size=args.batch_size,
        )
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        title = (
            f"LoCoMo recall: {len(conversations)} conversations, backend {args.backend}, "
            f"embeddings {args.embeddings}, lexical weight {args.lexical_weight}"
        )
        print(format_table(report, title=title))
    return 0


def add_eval(commands: argparse._SubParsersAction) -> None:
    """Register ``eval`` and its subcommands."""
    evaluation = commands.add_parser("eval", help="measure the memory layer")
    kinds = evaluation.add_subparsers(dest="kind", required=True)
    recall = kinds.add_parser(
        "recall", help="recall@k on LoCoMo-format conversations, ours vs store.search"
    )
    recall.add_argument("--data", required=True, help="directory of LoCoMo *.json files")
    recall.add_argument(
        "--embeddings", default="local", help="local (default), none, openai, hash, module:fn"
    )
    recall.add_argument("--k", type=_ks, default=[1, 5, 10, 25], help="e.g. 1,5,10,25")
    recall.add_argument("--json", action="store_true", help="print one JSON object")
    recall.add_argument(
        "--backend",
        choices=["memory", "postgres"],
        default="memory",
        help="memory (default) or postgres (POSTGRES_URI, else embedded)",
    )
    recall.add_argument(
        "--lexical-weight",
        type=_weight,
        default=DEFAULT_LEXICAL_WEIGHT,
        help="share of the lexical signal in the blend (tuning)",
    )
    recall.add_argument(
        "--no-dates", action="store_true", help="leave the session date out of each memory's text"
    )
    recall.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="memories per write")
    recall.set_defaults(run=run_eval_recall)


def build_parser() -> argparse.ArgumentParser:
    """The ``memory-casts`` parser with every registered command."""
    parser = argparse.ArgumentParser(prog="memory-casts", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_eval(commands)
    add_store_commands(commands)
    add_new_cast(commands)
    add_forget_user(commands)
    return parser


async def amain(argv: Sequence[str] | None = None, *, store: BaseStore | None = None) -> int:
    """Run one command in the current event loop; returns the exit status.

    Args:
        argv: The arguments after ``memory-casts``.
        store: Use this open store instead of opening the configured one, so a program (or
            a test) can run several commands against one in-memory store. ``reindex`` and
            ``eval`` always open their own.
    """
    args = build_parser().parse_args(argv)
    args.store = store
    try:
        # The command's start-up: the settings are read once, here, for all it does.
        with using(Settings.from_env()):
            return await args.run(args)
    except (MemoryCastError, OSError) as error:
        print(f"memory-casts: {error}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``memory-casts``; returns the exit status."""
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
