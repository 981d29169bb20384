"""Bulk writes: many items through the normal write path, in batches, with progress.

One ``PutOp`` per call would embed one text per model call; batches let the store embed a
whole batch in one call (the model's batch throughput) and write it in one round trip,
still validated by ``GuardedStore`` like any other write. Large batches matter: the model
sorts texts by length within a call, so the larger the call the less padding it computes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

from langgraph.store.base import BaseStore, PutOp
from tqdm import tqdm

from casts.memory.namespaces import Namespace

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
