"""The ``memory-casts`` commands over the configured store.

ls, get, put, rm, search, stats, export, import, cleanup and reindex. The store is the
one the server would use (``settings.current()``: ``POSTGRES_URI``, else the
embedded database in ``MEMORY_DATA_DIR``, or ``MEMORY_BACKEND=memory``), opened through
``open_store``, so every write is validated by ``GuardedStore`` exactly as a tool's. Namespaces
are written as ``casts.memory.core.namespace_text`` describes (``user/ada@example.com/memories``).
Results go to stdout (JSON where a program may read them), progress and errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore, Item

from casts.memory.core.errors import InvalidValueError
from casts.memory.core.namespace_text import format_namespace, parse_namespace
from casts.memory.recall.search import recall
from casts.memory.settings import current
from casts.memory.store.embeddings import embedding_choice
from casts.memory.store.persistence import open_store
from casts.memory.store.reindex import reindex
from casts.memory.store.transfer import (
    DEFAULT_BATCH,
    cleanup,
    count_items,
    export_items,
    import_file,
    item_record,
    list_namespaces,
)

NOT_FOUND = 1


@asynccontextmanager
async def _store(args: argparse.Namespace) -> AsyncIterator[BaseStore]:
    """The store given to ``amain`` (kept open), else the configured one, opened here."""
    given = getattr(args, "store", None)
    if given is not None:
        yield given
        return
    async with open_store(current()) as store:
        yield store


def _json_object(raw: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidValueError(
            what, f"is not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    if not isinstance(value, dict):
        raise InvalidValueError(what, f"must be a JSON object, got {type(value).__name__}")
    return value


def _days(raw: str) -> float:
    try:
        days = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--older-than {raw!r} is not a number of days") from None
    if not math.isfinite(days) or days < 0:
        raise argparse.ArgumentTypeError("--older-than must be a non-negative number of days")
    return days


def _positive(raw: str) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _display(item: Item) -> dict[str, Any]:
    record = item_record(item)
    record["namespace"] = format_namespace(tuple(item.namespace))
    score = getattr(item, "score", None)
    if score is not None:
        record["score"] = score
    return record


def _print(record: Any) -> None:
    print(json.dumps(record, ensure_ascii=False))


async def run_ls(args: argparse.Namespace) -> int:
    """``ls [PREFIX]``: every namespace under the prefix, one per line."""
    prefix = parse_namespace(args.prefix, prefix=True)
    async with _store(args) as store:
        for namespace in await list_namespaces(store, prefix):
            print(format_namespace(namespace))
    return 0


async def run_get(args: argparse.Namespace) -> int:
    """``get NS KEY``: the item as one JSON object; exit 1 when there is none."""
    namespace = parse_namespace(args.namespace)
    async with _store(args) as store:
        item = await store.aget(namespace, args.key)
    if item is None:
        print(
            f"memory-casts: no item {args.key!r} in {format_namespace(namespace)}", file=sys.stderr
        )
        return NOT_FOUND
    _print(_display(item))
    return 0


async def run_put(args: argparse.Namespace) -> int:
    """``put NS KEY JSON``: write (or replace) one item, validated like any write."""
    namespace = parse_namespace(args.namespace)
    value = _json_object(args.value, "JSON")
    async with _store(args) as store:
        await store.aput(namespace, args.key, value)
    print(f"put {format_namespace(namespace)} {args.key}")
    return 0


async def run_rm(args: argparse.Namespace) -> int:
    """``rm NS KEY``: delete one item; exit 1 when there was none."""
    namespace = parse_namespace(args.namespace)
    async with _store(args) as store:
        if await store.aget(namespace, args.key, refresh_ttl=False) is None:
            print(
                f"memory-casts: no item {args.key!r} in {format_namespace(namespace)}",
                file=sys.stderr,
            )
            return NOT_FOUND
        await store.adelete(namespace, args.key)
    print(f"deleted {format_namespace(namespace)} {args.key}")
    return 0


async def run_search(args: argparse.Namespace) -> int:
    """``search NS``: recall with ``--query``, else newest-updated first; JSON lines."""
    namespace = parse_namespace(args.namespace, prefix=True)
    filter = _json_object(args.filter, "--filter") if args.filter is not None else None
    async with _store(args) as store:
        if args.query:
            items = await recall(store, namespace, args.query, limit=args.limit, filter=filter)
        else:
            items = await store.asearch(namespace, filter=filter, limit=args.limit)
    for item in items:
        _print(_display(item))
    return 0


async def run_stats(args: argparse.Namespace) -> int:
    """``stats [PREFIX]``: items per namespace and totals."""
    prefix = parse_namespace(args.prefix, prefix=True)
    async with _store(args) as store:
        counts = await count_items(store, prefix)
    total = sum(counts.values())
    if args.json:
        namespaces = [{"namespace": format_namespace(ns), "items": n} for ns, n in counts.items()]
        _print({"namespaces": namespaces, "total_items": total, "total_namespaces": len(counts)})
        return 0
    width = max((len(str(n)) for n in counts.values()), default=1)
    for namespace, count in counts.items():
        print(f"{count:>{width}}  {format_namespace(namespace)}")
    print(f"total: {total} items in {len(counts)} namespaces")
    return 0


async def run_export(args: argparse.Namespace) -> int:
    """``export [PREFIX] [--out FILE]``: JSON lines of every item under the prefix."""
    prefix = parse_namespace(args.prefix, prefix=True)
    async with _store(args) as store:
        if args.out:
            with Path(args.out).open("w", encoding="utf-8") as out:
                count = await export_items(store, out, prefix)
        else:
            count = await export_items(store, sys.stdout, prefix)
    print(f"exported {count} items", file=sys.stderr)
    return 0


async def run_import(args: argparse.Namespace) -> int:
    """``import FILE``: validate every line, then put the items in batches."""
    path = Path(args.file)
    if not path.is_file():
        raise InvalidValueError("FILE", f"{path} is not a file")
    async with _store(args) as store:
        count = await import_file(store, path, batch_size=args.batch_size, progress=args.progress)
    print(f"imported {count} items from {path}")
    return 0


async def run_cleanup(args: argparse.Namespace) -> int:
    """``cleanup PREFIX --older-than DAYS [--dry-run]``."""
    prefix = parse_namespace(args.prefix, prefix=True)
    async with _store(args) as store:
        report = await cleanup(store, prefix, args.older_than, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for namespace, key in report.matched:
        print(f"{verb} {format_namespace(namespace)} {key}")
    count = len(report.matched) if args.dry_run else report.deleted
    print(f"{verb} {count} of {report.scanned} items under {format_namespace(prefix) or '/'}")
    return 0


async def run_reindex(args: argparse.Namespace) -> int:
    """``reindex``: re-embed every item with the configured MEMORY_EMBEDDINGS."""
    settings = current()
    report = await reindex(settings, batch_size=args.batch_size, progress=args.progress)
    change = f"dropped the {report.old_dims}-dimension vectors, " if report.dropped else ""
    print(
        f"reindex: {change}re-embedded {report.items} items with MEMORY_EMBEDDINGS="
        f"{embedding_choice(settings)} ({report.new_dims} dimensions)"
    )
    return 0


def _progress_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def add_store_commands(commands: argparse._SubParsersAction) -> None:
    """Register the store commands on the ``memory-casts`` parser."""
    ns_help = "namespace, e.g. user/ada@example.com/memories (or a JSON array of stored labels)"
    prefix_help = "namespace prefix, e.g. user/ada@example.com (default: everything)"

    ls = commands.add_parser("ls", help="list namespaces")
    ls.add_argument("prefix", nargs="?", default="", help=prefix_help)
    ls.set_defaults(run=run_ls)

    get = commands.add_parser("get", help="print one item as JSON")
    get.add_argument("namespace", help=ns_help)
    get.add_argument("key")
    get.set_defaults(run=run_get)

    put = commands.add_parser("put", help="write one item (value: a JSON object)")
    put.add_argument("namespace", help=ns_help)
    put.add_argument("key")
    put.add_argument("value", help='a JSON object, e.g. \'{"content": "likes tea"}\'')
    put.set_defaults(run=run_put)

    rm = commands.add_parser("rm", help="delete one item")
    rm.add_argument("namespace", help=ns_help)
    rm.add_argument("key")
    rm.set_defaults(run=run_rm)

    search = commands.add_parser("search", help="search a namespace (recall with --query)")
    search.add_argument("namespace", help=ns_help)
    search.add_argument("--query", help="rank by recall (lexical + semantic)")
    search.add_argument("--filter", help='JSON filter on the value, e.g. \'{"kind": "fact"}\'')
    search.add_argument("--limit", type=_positive, default=10)
    search.set_defaults(run=run_search)

    stats = commands.add_parser("stats", help="items per namespace and totals")
    stats.add_argument("prefix", nargs="?", default="", help=prefix_help)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(run=run_stats)

    export = commands.add_parser("export", help="write items as JSON lines")
    export.add_argument("prefix", nargs="?", default="", help=prefix_help)
    export.add_argument("--out", help="file to write (default: stdout)")
    export.set_defaults(run=run_export)

    imports = commands.add_parser(
        "import", help="put the items of a JSON-lines export (all validated first)"
    )
    imports.add_argument("file")
    imports.add_argument("--batch-size", type=_positive, default=DEFAULT_BATCH)
    _progress_flags(imports)
    imports.set_defaults(run=run_import)

    clean = commands.add_parser("cleanup", help="delete items older than N days")
    clean.add_argument("prefix", help="namespace prefix, e.g. session or user/ada@example.com")
    clean.add_argument("--older-than", type=_days, required=True, metavar="DAYS")
    clean.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    clean.set_defaults(run=run_cleanup)

    re_index = commands.add_parser(
        "reindex", help="re-embed every item after MEMORY_EMBEDDINGS changed (PostgreSQL)"
    )
    re_index.add_argument("--batch-size", type=_positive, default=256)
    _progress_flags(re_index)
    re_index.set_defaults(run=run_reindex)
