"""Re-embed every item after ``MEMORY_EMBEDDINGS`` changed (``memory-casts reindex``).

Vectors live in ``store_vectors`` with a fixed number of dimensions, and ``open_store``
refuses a database whose vectors disagree with the configured embeddings. Reindexing:

1. opens a bare pool (not ``open_store``, which would refuse) and, when the dimensions
   differ, drops ``store_vectors`` and empties ``vector_migrations`` under the store's
   migration lock;
2. reruns the store's migrations, which make the table again with the new dimensions;
3. reads every item straight from the ``store`` table in key order (keyset pages, so the
   whole store is never in memory) and puts it again in batches through the project's store,
   so each is embedded by the new model; each batch then gets its ``updated_at``,
   ``expires_at`` and ``ttl_minutes`` back, so re-embedding changes no item's age, order
   or expiry. Every item is put with the store's default index (its ``content`` field);
   items without ``content`` (session scratch) get no vector, as before.

Same dimensions (another model of the same size) skip step 1 and overwrite the vectors.
Only PostgreSQL has vectors to rebuild; the in-memory store is empty at every start.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import PutOp
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg_pool import AsyncConnectionPool
from tqdm import tqdm

from casts.memory.core.errors import ConfigurationError
from casts.memory.recall.sql import ensure_lexical_index
from casts.memory.settings import Settings
from casts.memory.store.embeddings import make_index_config
from casts.memory.store.persistence import (
    _STORE_LOCK_KEY,
    _advisory_lock,
    open_pool,
    open_store,
    postgres_location,
    stored_vector_dims,
)
from casts.memory.store.postgres import namespace_of

DEFAULT_BATCH = 256


@dataclass
class ReindexReport:
    """What a reindex did.

    Attributes:
        items: How many items were put again (and embedded where they have ``content``).
        old_dims: Dimensions of the vectors before, None when there were none.
        new_dims: Dimensions of the configured embeddings.
        dropped: Whether the old vector table was dropped (dimensions differed).
    """

    items: int
    old_dims: int | None
    new_dims: int
    dropped: bool


DROP_VECTORS = ("DROP TABLE IF EXISTS store_vectors", "DELETE FROM vector_migrations")
"""Forget the old vectors and LangGraph's record of creating their table, so ``setup``
creates it again with the new dimensions."""

PAGE_OF_ITEMS = """
SELECT prefix, key, value, updated_at, expires_at, ttl_minutes FROM store
WHERE (prefix, key) > (%s, %s) ORDER BY prefix, key LIMIT %s
"""
"""The next page of items in key order (keyset pagination: stable while we write)."""

RESTORE_TIMES = """
UPDATE store s
SET updated_at = v.updated_at, expires_at = v.expires_at, ttl_minutes = v.ttl_minutes
FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::int[])
  AS v(prefix, key, updated_at, expires_at, ttl_minutes)
WHERE s.prefix = v.prefix AND s.key = v.key
"""
"""Put back the times a re-put changed: re-embedding is not an update of the memory."""


async def _rebuild_vector_table(pool: AsyncConnectionPool, uri: str, index: Any) -> None:
    async with _advisory_lock(uri, _STORE_LOCK_KEY), pool.connection() as conn:
        for statement in DROP_VECTORS:
            await conn.execute(statement)
    await _setup(pool, uri, index)


async def _setup(pool: AsyncConnectionPool, uri: str, index: Any) -> None:
    store = AsyncPostgresStore(pool, index=index)  # type: ignore[arg-type]
    async with _advisory_lock(uri, _STORE_LOCK_KEY):
        await store.setup()
        async with pool.connection() as conn:
            await ensure_lexical_index(conn)


async def _rows(
    pool: AsyncConnectionPool, after: tuple[str, str], size: int
) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(PAGE_OF_ITEMS, (*after, size))
        return await cursor.fetchall()


async def _restore_times(pool: AsyncConnectionPool, rows: list[dict[str, Any]]) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            RESTORE_TIMES,
            (
                [row["prefix"] for row in rows],
                [row["key"] for row in rows],
                [row["updated_at"] for row in rows],
                [row["expires_at"] for row in rows],
                [row["ttl_minutes"] for row in rows],
            ),
        )


async def reindex(
    settings: Settings, *, batch_size: int = DEFAULT_BATCH, progress: bool | None = None
) -> ReindexReport:
    """Re-embed every item of the configured PostgreSQL store with the configured embeddings.

    Raises:
        ConfigurationError: The in-memory backend, or ``MEMORY_EMBEDDINGS=none``.
        StoreUnavailableError: PostgreSQL cannot be reached.
    """
    index = await asyncio.to_thread(make_index_config, settings)
    if settings.backend == "memory":
        raise ConfigurationError(
            "reindex needs PostgreSQL (POSTGRES_URI or the embedded server): the in-memory "
            "store keeps nothing between runs"
        )
    if index is None:
        raise ConfigurationError(
            "MEMORY_EMBEDDINGS is none: set the embeddings to index with (local, openai, "
            "hash, module:function) before reindexing"
        )
    async with postgres_location(settings) as uri, open_pool(uri, settings) as pool:
        old_dims = await stored_vector_dims(pool)
        dropped = old_dims is not None and old_dims != index["dims"]
        if dropped:
            await _rebuild_vector_table(pool, uri, index)
        else:
            await _setup(pool, uri, index)
        count = await _reput(settings, pool, batch_size, progress)
    return ReindexReport(items=count, old_dims=old_dims, new_dims=index["dims"], dropped=dropped)


async def _reput(
    settings: Settings,
    pool: AsyncConnectionPool,
    batch_size: int,
    progress: bool | None,
) -> int:
    count = 0
    after = ("", "")
    bar = tqdm(
        desc="re-embedding",
        unit="item",
        file=sys.stderr,
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
    )
    async with open_store(settings) as store:
        with bar:
            while rows := await _rows(pool, after, max(1, batch_size)):
                await store.abatch(
                    [PutOp(namespace_of(row["prefix"]), row["key"], row["value"]) for row in rows]
                )
                await _restore_times(pool, rows)
                count += len(rows)
                bar.update(len(rows))
                after = (rows[-1]["prefix"], rows[-1]["key"])
    return count
