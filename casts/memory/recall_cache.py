"""Recall on PostgreSQL from an in-process copy of the namespace, current to the last commit.

Recall inside PostgreSQL costs ~10 ms a turn at 10k memories (``casts.memory.recall_index``
says why). Here each process keeps a copy of the namespaces it recalls from, and every
recall first asks the database, in one short statement, what changed since the copy was
last brought up to date (``casts.memory.change_log``), applies that, and scores the copy.
So a recall still sees every write committed before it started, by any process -- the
copy is never stale, only local -- and the turn waits for one round trip that reads a
few index entries instead of every memory.

Not every recall goes through a copy (``recall_sql`` answers the rest):
- a store filter (the SQL path applies it with PostgreSQL's JSON semantics);
- recall over every namespace (``()``);
- a namespace with more than ``namespace_limit`` items: loading it costs more than it
  saves, and it would crowd out the others. It is checked again after
  ``TOO_LARGE_RECHECK_S``.

The first recall of a namespace in a process loads it (~0.1 s per 10k memories); copies
are dropped least recently used first past ``max_items`` items in all.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langgraph.store.base import SearchItem
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from casts.memory import change_log
from casts.memory.fusion import Candidates, Weights
from casts.memory.lexical import term_counts, terms
from casts.memory.recall_index import IndexedItem, RecallIndex, indexed_text
from casts.memory.recall_sql import store_connection
from casts.memory.settings import DEFAULT_RECALL_CACHE_ITEMS

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

        The query is embedded while the copy is brought up to date.
        """
        if not self.max_items or not namespace or self._recently_too_large(namespace):
            return None
        semantic = weights.uses_semantic and bool(store.index_config)
        embedding = store.embeddings.aembed_query(query) if semantic else _none()  # type: ignore[union-attr]
        vector, copy = await asyncio.gather(embedding, self._current(store, namespace))
        if copy is None:
            return None
        query_terms = terms(query) if weights.uses_lexical else ()
        return copy.index.candidates(query_terms, vector, pool=pool, now=time.time())

    def _recently_too_large(self, namespace: Namespace) -> bool:
        checked = self._too_large.get(namespace)
        return checked is not None and time.monotonic() - checked < TOO_LARGE_RECHECK_S

    async def _current(self, store: AsyncPostgresStore, namespace: Namespace) -> _Copy | None:
        """The namespace's copy brought up to date (loaded first when there is none)."""
        vectors = bool(store.index_config)
        copy = self._copies.get(namespace)
        if copy is None:
            lock = self._loading.setdefault(namespace, asyncio.Lock())
            async with lock:
                copy = self._copies.get(namespace)
                if copy is None:
                    async with store_connection(store) as conn:
                        copy = await self._load(conn, namespace, vectors=vectors)
                    self._loading.pop(namespace, None)
                    return self._keep(namespace, copy)
        async with copy.lock, store_connection(store) as conn:
            fresh = await self._catch_up(conn, namespace, copy, vectors=vectors)
            await self._prune_now_and_then(conn)
        return self._keep(namespace, fresh)

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
        self, conn: AsyncConnection[Any], namespace: Namespace, copy: _Copy, *, vectors: bool
    ) -> _Copy | None:
        """Apply what changed since the copy's watermark; reload when the log says to."""
        sql, params = change_log.changes_query(namespace, copy.watermark, vectors=vectors)
        rows = await _fetch(conn, sql, params)
        if rows[0]["reload"]:
            return await self._load(conn, namespace, vectors=vectors)
        for row in rows:
            if row["changed_key"] is None:
                continue
            if row["key"] is None:
                copy.index.remove((tuple(row["changed_prefix"].split(".")), row["changed_key"]))
            else:
                copy.index.put(_indexed(row))
        copy.watermark = int(rows[0]["watermark"])
        if len(copy.index) > self.namespace_limit:
            self._too_large[namespace] = time.monotonic()
            return None
        return copy

    def _keep(self, namespace: Namespace, copy: _Copy | None) -> _Copy | None:
        """Remember ``copy`` as most recently used and drop the least used past the budget."""
        if copy is None:
            self._copies.pop(namespace, None)
            return None
        self._copies[namespace] = copy
        self._copies.move_to_end(namespace)
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


async def cached_candidates(
    store: AsyncPostgresStore,
    namespace: Namespace,
    query: str,
    *,
    pool: int,
    weights: Weights,
) -> Candidates | None:
    """``RecallCache.candidates`` of the store's cache."""
    return await cache_for(store).candidates(store, namespace, query, pool=pool, weights=weights)


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
        namespace=tuple(row["prefix"].split(".")),
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
