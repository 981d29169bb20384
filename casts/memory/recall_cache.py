"""Recall on PostgreSQL from an in-process copy of the namespace, current to the last commit.

Recall inside PostgreSQL costs ~10 ms a turn at 10k memories (``casts.memory.recall_index``
says why). Here each process keeps a copy of the namespaces it recalls from, and every
recall first asks the database, in one short statement, what changed since the copy was
last brought up to date (``casts.memory.change_log``), applies that, and scores the copy.
So a recall still sees every write committed before it started, by any process -- the
copy is never stale, only local -- and the turn waits for one round trip that reads a
few index entries instead of every memory. ``reading`` brings several namespaces up to
date in that one statement and answers plain reads of them too (the memory agent's turn:
profile, preferences, team context and recall, one round trip in all).

Not every recall goes through a copy (``recall_sql`` answers the rest):
- a store filter (the SQL path applies it with PostgreSQL's JSON semantics);
- recall over every namespace (``()``);
- a namespace with more than ``namespace_limit`` items: loading it costs more than it
  saves, and it would crowd out the others. It is checked again after
  ``TOO_LARGE_RECHECK_S``.

The first recall of a namespace in a process loads it (~0.75 s for 10k memories: rows,
embeddings and the analysis of every text); copies are dropped least recently used first
past ``max_items`` items in all.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langgraph.store.base import BaseStore, GetOp, Item, SearchItem, SearchOp
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from casts.memory import change_log
from casts.memory.fusion import Candidates, Weights
from casts.memory.lexical import term_counts, terms
from casts.memory.recall_index import IndexedItem, RecallIndex, indexed_text
from casts.memory.recall_sql import refresh_ttl, store_connection
from casts.memory.settings import DEFAULT_RECALL_CACHE_ITEMS
from casts.memory.sql_scope import namespace_of

NAMESPACE_LIMIT = 50_000
"""Namespaces with more items are recalled in SQL."""
TOO_LARGE_RECHECK_S = 60.0
PRUNE_INTERVAL_S = 300.0

Namespace = tuple[str, ...]


@dataclass
class _Copy:
    """A namespace's copy and the watermark it is current to (``change_log``)."""

    index: RecallIndex
    watermark: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RecallCache:
    """The copies of one store's namespaces.

    Args:
        max_items: Items all copies hold together; 0 turns copies off (every recall in SQL).
        namespace_limit: Largest namespace copied.
    """

    def __init__(
        self, max_items: int = DEFAULT_RECALL_CACHE_ITEMS, namespace_limit: int = NAMESPACE_LIMIT
    ):
        self.max_items = max_items
        self.namespace_limit = min(namespace_limit, max_items)
        self._copies: OrderedDict[Namespace, _Copy] = OrderedDict()
        self._loading: dict[Namespace, asyncio.Lock] = {}
        self._too_large: dict[Namespace, float] = {}
        self._pruned_at = -math.inf

    def holds(self, namespace: Namespace) -> bool:
        """Whether a copy of ``namespace`` is in memory."""
        return namespace in self._copies

    def applies_to(self, namespace: Namespace) -> bool:
        """Whether ``namespace`` may be copied (copies on, not every namespace, not too large)."""
        if not self.max_items or not namespace:
            return False
        checked = self._too_large.get(namespace)
        return checked is None or time.monotonic() - checked >= TOO_LARGE_RECHECK_S

    async def candidates(
        self,
        store: AsyncPostgresStore,
        namespace: Namespace,
        query: str,
        *,
        pool: int,
        weights: Weights,
    ) -> Candidates | None:
        """Each signal's top ``pool`` items for ``query``; None when the copy cannot answer.

        The query is embedded while the copy is brought up to date; inside ``reading`` of
        the namespace the copy is used as that brought it.
        """
        if not self.applies_to(namespace):
            return None
        semantic = weights.uses_semantic and bool(store.index_config)
        embedding = store.embeddings.aembed_query(query) if semantic else _none()  # type: ignore[union-attr]
        copy = self._copies.get(namespace) if (self, namespace) in _read.get() else None
        if copy is not None:
            vector = await embedding
        else:
            vector, copies = await asyncio.gather(embedding, self.up_to_date(store, [namespace]))
            if copies is None:
                return None
            copy = copies[namespace]
        query_terms = terms(query) if weights.uses_lexical else ()
        return copy.index.candidates(query_terms, vector, pool=pool, now=time.time())

    async def up_to_date(
        self, store: AsyncPostgresStore, namespaces: Sequence[Namespace]
    ) -> dict[Namespace, _Copy] | None:
        """Copies of ``namespaces``, current as of one statement; None if one is too large.

        A namespace without a copy is loaded first (a statement of its own, once).
        """
        vectors = bool(store.index_config)
        wanted = list(dict.fromkeys(namespaces))
        copies: dict[Namespace, _Copy] = {}
        async with store_connection(store) as conn:
            for namespace in wanted:
                copy = self._copies.get(namespace) or await self._loaded(conn, namespace, vectors)
                if copy is None:
                    return None
                copies[namespace] = copy
            async with AsyncExitStack() as locks:
                for namespace in sorted(copies):  # one order everywhere: no lock cycles
                    await locks.enter_async_context(copies[namespace].lock)
                await self._catch_up(conn, copies, vectors=vectors)
            await self._prune_now_and_then(conn)
        for namespace in wanted:  # a reload may have found one too large
            if not self.applies_to(namespace) or self._keep(namespace, copies[namespace]) is None:
                self._copies.pop(namespace, None)
                return None
        return copies

    async def _loaded(
        self, conn: AsyncConnection[Any], namespace: Namespace, vectors: bool
    ) -> _Copy | None:
        """The namespace's copy, loaded by one coroutine while the others wait for it."""
        async with self._loading.setdefault(namespace, asyncio.Lock()):
            copy = self._copies.get(namespace)
            if copy is None:
                copy = await self._load(conn, namespace, vectors=vectors)
                self._keep(namespace, copy)
            self._loading.pop(namespace, None)
            return copy

    async def _load(
        self, conn: AsyncConnection[Any], namespace: Namespace, *, vectors: bool
    ) -> _Copy | None:
        """A new copy of the namespace; None when it is too large to copy."""
        sql, params = change_log.load_query(namespace, self.namespace_limit, vectors=vectors)
        rows = await _fetch(conn, sql, params)
        if rows[0]["too_many"]:
            self._too_large[namespace] = time.monotonic()
            return None
        self._too_large.pop(namespace, None)
        index = RecallIndex()
        index.put_all(_indexed(row) for row in rows if row["key"] is not None)
        return _Copy(index, int(rows[0]["watermark"]))

    async def _catch_up(
        self, conn: AsyncConnection[Any], copies: dict[Namespace, _Copy], *, vectors: bool
    ) -> None:
        """Apply what changed since each copy's watermark; reload where the log says to."""
        parts = list(copies)
        sql, params = change_log.changes_query(
            [(namespace, copies[namespace].watermark) for namespace in parts]
        )
        rows = await _fetch(conn, sql, params)
        watermark = int(rows[0]["watermark"])
        reload = [
            change_log.must_reload(rows, part, copies[namespace].watermark)
            for part, namespace in enumerate(parts, start=1)
        ]
        for row in rows:
            if row["changed_key"] is None or reload[row["part"] - 1]:
                continue
            index = copies[parts[row["part"] - 1]].index
            if row["key"] is None:
                index.remove((namespace_of(row["changed_prefix"]), row["changed_key"]))
            else:
                index.put(_indexed(row))
        for namespace, again in zip(parts, reload, strict=True):
            if again:
                fresh = await self._load(conn, namespace, vectors=vectors)
                if fresh is None:  # too large now: up_to_date drops the copy
                    continue
                copies[namespace].index = fresh.index
                copies[namespace].watermark = fresh.watermark
            else:
                copies[namespace].watermark = watermark

    def _keep(self, namespace: Namespace, copy: _Copy | None) -> _Copy | None:
        """Remember ``copy`` as most recently used and drop the least used past the budget.

        The budget is counted when a copy is added (not on every use: that would cost a
        pass over all copies per recall); copies grown by catching up count at the next.
        """
        if copy is None or len(copy.index) > self.namespace_limit:
            self._copies.pop(namespace, None)
            if copy is not None:
                self._too_large[namespace] = time.monotonic()
            return None
        added = self._copies.get(namespace) is not copy
        self._copies[namespace] = copy
        self._copies.move_to_end(namespace)
        if not added:
            return copy
        total = sum(len(kept.index) for kept in self._copies.values())
        while total > self.max_items and len(self._copies) > 1:
            _, dropped = self._copies.popitem(last=False)
            total -= len(dropped.index)
        return copy

    async def _prune_now_and_then(self, conn: AsyncConnection[Any]) -> None:
        """Prune the change log at most every ``PRUNE_INTERVAL_S`` per process."""
        if time.monotonic() - self._pruned_at >= PRUNE_INTERVAL_S:
            self._pruned_at = time.monotonic()
            await change_log.prune(conn)


# (cache, namespace) pairs brought up to date by the enclosing ``reading`` block.
_read: ContextVar[frozenset[tuple[RecallCache, Namespace]]] = ContextVar(
    "memory_casts_read", default=frozenset()
)


class Reads:
    """Store reads answered from copies that one statement brought up to date.

    Answers ``GetOp`` and listing ``SearchOp`` (no query, no filter) as the store does:
    a listing is newest first (``updated_at``, as LangGraph's PostgreSQL search orders it).
    """

    def __init__(self, copies: dict[Namespace, _Copy]) -> None:
        self._copies = copies
        self._now = time.time()
        self.expiring: list[SearchItem] = []

    def run(self, op: GetOp | SearchOp) -> Item | list[SearchItem] | None:
        """The result the store would give for ``op``."""
        if isinstance(op, GetOp):
            entry = self._copies[op.namespace].index.get((op.namespace, op.key), now=self._now)
            if entry is None:
                return None
            self._note(entry)
            found = entry.item
            return Item(
                value=found.value,
                key=found.key,
                namespace=found.namespace,
                created_at=found.created_at,
                updated_at=found.updated_at,
            )
        entries = self._copies[op.namespace_prefix].index.live(now=self._now)
        newest = heapq.nlargest(  # a page of a large namespace need not sort all of it
            op.offset + op.limit, entries, key=lambda entry: (entry.item.updated_at, entry.item.key)
        )
        page = newest[op.offset :]
        for entry in page:
            self._note(entry)
        return [entry.item for entry in page]

    def _note(self, entry: IndexedItem) -> None:
        if entry.has_ttl:
            self.expiring.append(entry.item)


def namespace_read(op: GetOp | SearchOp) -> Namespace:
    """The namespace whose copy answers ``op``."""
    return op.namespace if isinstance(op, GetOp) else op.namespace_prefix


@asynccontextmanager
async def reading(store: BaseStore, namespaces: Sequence[Namespace]) -> AsyncIterator[Reads | None]:
    """Copies of ``namespaces`` brought up to date in one statement, for a turn's reads.

    Inside the block, recall in those namespaces scores the copies as they are instead of
    catching them up again: the turn waits for one round trip in all. Yields None where
    copies do not apply (not PostgreSQL, copies off, a namespace too large): read the store.
    TTLs of the items read are refreshed on the way out, as the store's reads do.
    """
    inner = getattr(store, "inner", store)
    if not isinstance(inner, AsyncPostgresStore):
        yield None
        return
    cache = cache_for(inner)
    copies = None
    if all(cache.applies_to(namespace) for namespace in namespaces):
        copies = await cache.up_to_date(inner, namespaces)
    if copies is None:
        yield None
        return
    reads = Reads(copies)
    token = _read.set(_read.get() | {(cache, namespace) for namespace in copies})
    try:
        yield reads
    finally:
        _read.reset(token)
    await refresh_ttl(inner, reads.expiring)


_caches: weakref.WeakKeyDictionary[AsyncPostgresStore, RecallCache] = weakref.WeakKeyDictionary()


def attach(store: AsyncPostgresStore, cache: RecallCache) -> None:
    """Give ``store`` its own cache (``persistence`` sizes it from the settings)."""
    _caches[store] = cache


def cache_for(store: AsyncPostgresStore) -> RecallCache:
    """The store's cache: the attached one, else one of the default size."""
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = RecallCache()
    return cache


async def _none() -> None:
    return None


async def _fetch(
    conn: AsyncConnection[Any], sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()


def _indexed(row: dict[str, Any]) -> IndexedItem:
    """A row of ``change_log``'s queries as the index keeps it."""
    value = row["value"]
    item = SearchItem(
        namespace=namespace_of(row["prefix"]),
        key=row["key"],
        value=value,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    expires_at = row["expires_at"]
    return IndexedItem(
        item=item,
        counts=term_counts(indexed_text(value)),
        vectors=_vectors(row["vectors"]),
        expires_at=expires_at.timestamp() if expires_at else math.inf,
        has_ttl=bool(row["has_ttl"]),
    )


def _vectors(texts: Sequence[str]) -> list[np.ndarray]:
    """Embeddings from pgvector's text form (``[0.1,0.2]``) as arrays."""
    return [np.array(text[1:-1].split(","), dtype=np.float32) for text in texts]
