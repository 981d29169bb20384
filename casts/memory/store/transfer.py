"""Whole-store operations behind the CLI: scan, stats, export, import, bulk writes, age cleanup.

Bulk writes (``put_many``) go through the normal write path in batches, with progress.

Export writes one JSON object per line: ``namespace`` (the stored labels, a JSON array, so
any namespace survives the trip exactly), ``key``, ``value``, ``created_at``,
``updated_at`` (ISO 8601 with offset). Import reads the same lines.

Import is all or nothing for bad input: every line is parsed and validated (namespace, key,
value -- the same checks ``GuardedStore`` applies) *before anything is written*, so a
malformed line or a value the store would refuse fails the import naming the line and
writes nothing. Only then are the items put in batches (one ``abatch`` each, validated
again by the store). Puts are upserts, so importing the same file twice gives the same
store: if the store itself fails half way (connection lost), rerun the import. The store's
API cannot set timestamps: imported items get the time of the import as ``created_at`` /
``updated_at`` (an existing item keeps its ``created_at``), and items are put without TTL.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from langgraph.store.base import BaseStore, Item, PutOp
from tqdm import tqdm

from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError, MemoryCastError
from casts.memory.core.namespaces import Namespace, validate_namespace
from casts.memory.core.records import as_utc, utc_now
from casts.memory.kinds.scratch import SESSION_ROOT, CleanupReport, cleanup_older_than
from casts.memory.store.guarded import check_op
from casts.memory.store.reading import asearch_all, iter_items

NAMESPACE_PAGE = 500
DEFAULT_BATCH = 500
DELETE_CHUNK = 1000


class ImportFileError(MemoryCastError, ValueError):
    """A line of an import file is malformed or holds an item the store would refuse.

    Attributes:
        line: The 1-based line number.
    """

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        self.line = line
        super().__init__(f"{path}: line {line}: {reason}; nothing was imported")


async def list_namespaces(store: BaseStore, prefix: Namespace = ()) -> list[Namespace]:
    """Every namespace under ``prefix`` (``list_namespaces`` stops at 100: page)."""
    found: list[Namespace] = []
    while True:
        page = await store.alist_namespaces(
            prefix=prefix or None, limit=NAMESPACE_PAGE, offset=len(found)
        )
        found.extend(tuple(namespace) for namespace in page)
        if len(page) < NAMESPACE_PAGE:
            return sorted(found)


async def count_items(store: BaseStore, prefix: Namespace = ()) -> dict[Namespace, int]:
    """Items per namespace under ``prefix``, sorted by namespace."""
    counts = Counter([tuple(item.namespace) async for item in iter_items(store, prefix)])
    return dict(sorted(counts.items()))


def item_record(item: Item) -> dict[str, Any]:
    """One export line's object."""
    return {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": as_utc(item.created_at).isoformat(),
        "updated_at": as_utc(item.updated_at).isoformat(),
    }


async def export_items(store: BaseStore, out: TextIO, prefix: Namespace = ()) -> int:
    """Write every item under ``prefix`` to ``out`` as JSON lines; returns how many.

    The export is a snapshot (``queries.iter_items``): every item that existed when it
    began, once, with its value at that moment, however the store changes meanwhile.
    """
    written = 0
    async with aclosing(iter_items(store, prefix)) as items:
        async for item in items:
            out.write(json.dumps(item_record(item), ensure_ascii=False, allow_nan=False) + "\n")
            written += 1
    return written


def parse_line(text: str, *, path: Path | str, line: int) -> PutOp:
    """The put one import line asks for, validated as the store would.

    Raises:
        ImportFileError: Naming the line and the field.
    """
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFileError(path, line, f"not valid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise ImportFileError(path, line, "must be a JSON object with namespace, key, value")
    missing = [name for name in ("namespace", "key", "value") if name not in record]
    if missing:
        raise ImportFileError(path, line, f"missing {', '.join(missing)}")
    labels = record["namespace"]
    if not isinstance(labels, list):
        raise ImportFileError(path, line, "namespace must be a JSON array of labels")
    try:
        namespace = validate_namespace(tuple(labels))
        op = PutOp(namespace, record["key"], record["value"])
        if record["value"] is None:
            raise InvalidValueError("value", "must be a JSON object, not null")
        check_op(op)
    except (InvalidValueError, InvalidNamespaceError) as error:
        raise ImportFileError(path, line, str(error)) from None
    return op


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text


def validate_file(path: Path) -> int:
    """Parse and validate every line without writing; returns how many items it holds.

    Raises:
        ImportFileError: The first bad line.
    """
    count = 0
    try:
        for number, text in _lines(path):
            parse_line(text, path=path, line=number)
            count += 1
    except UnicodeDecodeError as error:
        raise ImportFileError(path, count + 1, f"not UTF-8 text ({error.reason})") from None
    return count


async def import_file(
    store: BaseStore,
    path: Path,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: bool | None = None,
) -> int:
    """Validate the whole file, then put its items in batches; returns how many.

    Args:
        store: The store to write to.
        path: A JSON-lines file as ``export_items`` writes it.
        batch_size: Items per ``abatch`` (and per embedding call).
        progress: Show a tqdm bar on stderr; None shows it when stderr is a terminal.

    Raises:
        ImportFileError: A bad line; nothing was written.
    """
    total = validate_file(path)
    bar = tqdm(
        total=total,
        desc="importing",
        unit="item",
        file=sys.stderr,
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
    )
    batch: list[PutOp] = []
    with bar:
        for number, text in _lines(path):
            batch.append(parse_line(text, path=path, line=number))
            if len(batch) >= max(1, batch_size):
                await store.abatch(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            await store.abatch(batch)
            bar.update(len(batch))
    return total


def check_days(days: Any) -> float:
    """An age limit is a finite, non-negative number of days.

    Raises:
        InvalidValueError: Naming ``days``.
    """
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days):
        raise InvalidValueError("days", "must be a number of days")
    if days < 0:
        raise InvalidValueError("days", "must not be negative")
    return float(days)


@dataclass
class AgeCleanup:
    """What an age cleanup matched and deleted (``matched``: namespace, key)."""

    matched: list[tuple[Namespace, str]] = field(default_factory=list)
    deleted: int = 0
    scanned: int = 0


async def cleanup(
    store: BaseStore,
    prefix: Namespace,
    days: float,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> AgeCleanup | CleanupReport:
    """Delete items under ``prefix`` older than ``days``.

    Under the session root this is ``scratch.cleanup_older_than`` (age from ``created_at``,
    or past the entry's ``expires_at``). Elsewhere an item is old when it has not been
    *updated* for ``days``: a memory confirmed yesterday is live however old it is. Every
    item is read before any is deleted; times are compared timezone-aware.

    Raises:
        InvalidValueError: ``days`` is not a non-negative number.
        InvalidNamespaceError: An empty prefix (a cleanup must name what it cleans).
    """
    days = check_days(days)
    prefix = validate_namespace(prefix, prefix=True)
    if not prefix:
        raise InvalidNamespaceError("cleanup needs a namespace prefix, e.g. session or user/<id>")
    if prefix[: len(SESSION_ROOT)] == SESSION_ROOT:
        return await cleanup_older_than(store, days, prefix=prefix, now=now, dry_run=dry_run)
    cutoff = as_utc(now or utc_now()) - timedelta(days=days)
    (items,) = await asearch_all(store, prefix, refresh_ttl=False)
    matched = [
        (tuple(item.namespace), item.key) for item in items if as_utc(item.updated_at) < cutoff
    ]
    deleted = 0
    if not dry_run:
        for start in range(0, len(matched), DELETE_CHUNK):
            chunk = matched[start : start + DELETE_CHUNK]
            await store.abatch([PutOp(namespace, key, None) for namespace, key in chunk])
        deleted = len(matched)
    return AgeCleanup(matched=matched, deleted=deleted, scanned=len(items))


DEFAULT_BATCH = 1024


def puts(namespace: Namespace, items: Sequence[tuple[str, dict[str, Any]]]) -> list[PutOp]:
    """``PutOp``s writing ``(key, value)`` pairs under one namespace."""
    return [PutOp(tuple(namespace), key, value) for key, value in items]


async def put_many(
    store: BaseStore,
    ops: Sequence[PutOp],
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: bool | None = None,
    description: str = "storing",
) -> int:
    """Run ``ops`` (writes, possibly to several namespaces) in batches, in order.

    Args:
        store: The store (a ``GuardedStore`` validates each batch before writing any of it).
        ops: The writes; a later op on the same item wins, as in one ``abatch``.
        batch_size: Ops per ``abatch`` call, hence texts per embedding call.
        progress: Show a progress bar on stderr; None shows it when stderr is a terminal.
        description: Label of the progress bar.

    Returns:
        How many ops ran.
    """
    bar = tqdm(
        total=len(ops),
        desc=description,
        unit="item",
        file=sys.stderr,
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
        leave=False,
    )
    with bar:
        for batch in _chunks(ops, batch_size):
            await store.abatch(batch)
            bar.update(len(batch))
    return len(ops)


def _chunks(ops: Sequence[PutOp], size: int) -> Iterator[Sequence[PutOp]]:
    for start in range(0, len(ops), max(1, size)):
        yield ops[start : start + size]
