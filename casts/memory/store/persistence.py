"""Store and checkpointer factories: one design for dev, tests and production.

The backend comes from the settings (``casts.memory.settings``, read once at start-up):

- ``POSTGRES_URI`` set: AsyncPostgresStore and AsyncPostgresSaver on a connection pool,
  migrations run once (under an advisory lock, so two processes never race), TTL sweeper on.
- unset: the same PostgreSQL code path on a local embedded server (``casts.memory.store.embedded``)
  whose data survives restarts.
- ``MEMORY_BACKEND=memory``: InMemoryStore and InMemorySaver, lost on restart.

``langgraph.json`` points ``store`` and ``checkpointer`` at ``make_store`` and
``make_checkpointer``. The server starts no TTL sweeper for a custom store, so the store
factory starts its own. Scripts and tests call ``open_store`` / ``open_checkpointer`` with
explicit settings; sync scripts call ``open_store_sync`` / ``open_checkpointer_sync``, which
open the very same store and checkpointer on an event loop of their own thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import select
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import IndexConfig, TTLConfig
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection, OperationalError
from psycopg.pq import ConnStatus
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from casts.memory.core.errors import EmbeddingDimensionMismatchError, StoreUnavailableError
from casts.memory.recall.sql import ensure_lexical_index
from casts.memory.settings import Settings, current
from casts.memory.store.blocking import as_coroutine, refuse_on_event_loop
from casts.memory.store.embedded import embedded_server
from casts.memory.store.embeddings import INDEXED_FIELDS, make_index_config
from casts.memory.store.guarded import GuardedStore, PatchedInMemoryStore
from casts.memory.store.postgres import advisory_lock

_STORE_LOCK_KEY = 72_317_001
_CHECKPOINT_LOCK_KEY = 72_317_002
_migrated: set[tuple[str, str]] = set()
log = logging.getLogger(__name__)
T = TypeVar("T")


@asynccontextmanager
async def postgres_location(settings: Settings) -> AsyncIterator[str | None]:
    """The URI of the PostgreSQL to use for the block (None: in memory).

    The embedded server is started if it is the choice, and released after the block.
    """
    if settings.backend == "postgres":
        yield settings.postgres_uri
    elif settings.backend == "embedded":
        async with embedded_server(settings.data_dir) as uri:
            yield uri
    else:
        yield None


def redact(uri: str) -> str:
    """A URI fit for an error message: the password replaced."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", uri)


@asynccontextmanager
async def open_pool(uri: str, settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    """A connection pool configured as the LangGraph Postgres classes require.

    Connections are checked before use (``check_idle_connection``), so the pool recovers
    after the server restarts.
    A request for a connection waits at most ``connect_timeout_s`` (psycopg_pool's default
    is 30 s, whatever the setting), and one reconnection attempt backs off for at most that
    long before the pool starts a fresh one: the backoff doubles while the server is down,
    so an unbounded one would keep the pool away from a restarted server for about as long
    as the outage lasted.

    Raises:
        StoreUnavailableError: The server cannot be reached.
    """
    pool = AsyncConnectionPool(
        uri,
        min_size=settings.pool_min_size,
        max_size=max(settings.pool_max_size, settings.pool_min_size),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        check=check_idle_connection,
        timeout=settings.connect_timeout_s,
        reconnect_timeout=settings.connect_timeout_s,
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=settings.connect_timeout_s)
    except PoolTimeout as error:
        await pool.close()
        raise StoreUnavailableError(
            f"Cannot connect to PostgreSQL at {redact(uri)}: is it running, and are the "
            "credentials right? Unset POSTGRES_URI to use the embedded server."
        ) from error
    try:
        yield pool
    finally:
        await pool.close()


async def check_idle_connection(conn: AsyncConnection[Any]) -> None:
    """Raise if a connection the pool is about to hand out is broken.

    An idle connection has nothing to read unless the server has gone: a server that
    stops or restarts sends a termination notice and closes the socket, either of which
    makes it readable. Only then is the server asked (psycopg_pool's own check, a round
    trip), so a healthy connection costs no round trip before every store operation.
    (A notification from LISTEN would trigger the full check too; the store uses none.)
    """
    if conn.closed or conn.pgconn.status != ConnStatus.OK:
        raise OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


@asynccontextmanager
async def _advisory_lock(uri: str, key: int) -> AsyncIterator[None]:
    """Serialise migrations across processes, on a connection of their own."""
    async with (
        await AsyncConnection.connect(uri, autocommit=True) as conn,
        advisory_lock(conn, key),
    ):
        yield


VECTOR_TYPE = """
SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
WHERE attrelid = to_regclass('store_vectors') AND attname = 'embedding'
"""
"""The declared type of LangGraph's vector column, e.g. ``vector(384)``."""

COUNT_UNINDEXED = """
SELECT count(*) AS missing FROM store s
WHERE s.value ? %s
  AND NOT EXISTS (SELECT 1 FROM store_vectors v WHERE v.prefix = s.prefix AND v.key = s.key)
"""
"""Items that have text to embed (the parameter: the indexed field) but no vector."""


async def stored_vector_dims(pool: AsyncConnectionPool) -> int | None:
    """Dimensions of the vectors already in the database, or None when there are none."""
    async with pool.connection() as conn:
        cursor = await conn.execute(VECTOR_TYPE)
        row = await cursor.fetchone()
    match = re.search(r"\((\d+)\)", row["type"]) if row else None
    return int(match.group(1)) if match else None


async def check_vector_dims(pool: AsyncConnectionPool, index: IndexConfig | None) -> None:
    """Refuse to open a database whose vectors have other dimensions than the embeddings.

    Raises:
        EmbeddingDimensionMismatchError: Saying which setting produced which dimensions and
            how to fix it, instead of a failure deep inside SQL at the first write.
    """
    if not index:
        return
    stored = await stored_vector_dims(pool)
    if stored is not None and stored != index["dims"]:
        raise EmbeddingDimensionMismatchError(
            f"The database holds {stored}-dimension vectors, but MEMORY_EMBEDDINGS gives "
            f"{index['dims']}. Either go back to the embeddings that made them, or run "
            "`memory-casts reindex` with the new MEMORY_EMBEDDINGS: it drops the old vectors "
            "(DROP TABLE store_vectors; DELETE FROM vector_migrations;) and re-embeds every item."
        )


async def warn_unindexed(pool: AsyncConnectionPool, index: IndexConfig | None) -> int:
    """Say at start-up how to index items stored while there were no embeddings.

    Items written under ``MEMORY_EMBEDDINGS=none`` (the old default) have text to embed but
    no vector, so semantic recall never finds them. Re-embedding a whole store is a job to
    run on purpose, with a progress bar (``memory-casts reindex``), not a side effect of a
    start-up, so this only logs the one command to run.

    Returns:
        How many items lack a vector (0 without embeddings).
    """
    if not index:
        return 0
    async with pool.connection() as conn:
        cursor = await conn.execute(COUNT_UNINDEXED, (INDEXED_FIELDS[0],))
        row = await cursor.fetchone()
    missing = int(row["missing"]) if row else 0
    if missing:
        log.warning(
            "%d stored items have no vectors (written while MEMORY_EMBEDDINGS was none): "
            "semantic recall cannot find them. Run `memory-casts reindex` to embed them.",
            missing,
        )
    return missing


async def _migrate_once(
    uri: str, what: str, key: int, setup: Callable[[], Awaitable[None]]
) -> None:
    """Run a migration once per process and database, one process at a time."""
    marker = (uri, what)
    if marker in _migrated:
        return
    async with _advisory_lock(uri, key):
        await setup()
    _migrated.add(marker)


@asynccontextmanager
async def open_store(settings: Settings | None = None) -> AsyncIterator[GuardedStore]:
    """Open the configured store, migrated and (on PostgreSQL) with its TTL sweeper running.

    Raises:
        StoreUnavailableError: The backend cannot start.
        EmbeddingDimensionMismatchError: See ``check_vector_dims``.
    """
    settings = settings or current()
    index = await asyncio.to_thread(make_index_config, settings)
    async with postgres_location(settings) as uri:
        if uri is None:
            yield GuardedStore(PatchedInMemoryStore(index=index))
            return
        async with _postgres_store(uri, settings, index) as store:
            yield store


@asynccontextmanager
async def _postgres_store(
    uri: str, settings: Settings, index: IndexConfig | None
) -> AsyncIterator[GuardedStore]:
    """The store on PostgreSQL: pool, dimension check, migrations, TTL sweeper."""
    async with open_pool(uri, settings) as pool:
        await check_vector_dims(pool, index)
        ttl: TTLConfig = {
            "refresh_on_read": True,
            "sweep_interval_minutes": settings.ttl_sweep_minutes,  # type: ignore[typeddict-item]
        }
        store = AsyncPostgresStore(pool, index=index, ttl=ttl)  # type: ignore[arg-type]
        dims = str(index["dims"]) if index else "-"

        async def setup() -> None:
            await store.setup()
            async with pool.connection() as conn:
                await ensure_lexical_index(conn)

        await _migrate_once(uri, f"store:{dims}", _STORE_LOCK_KEY, setup)
        await warn_unindexed(pool, index)
        await store.start_ttl_sweeper()
        try:
            yield GuardedStore(store, location=redact(uri))
        finally:
            await store.stop_ttl_sweeper(timeout=5)


@asynccontextmanager
async def open_checkpointer(
    settings: Settings | None = None,
) -> AsyncIterator[BaseCheckpointSaver]:
    """Open the configured checkpointer (thread state), migrated once."""
    settings = settings or current()
    async with postgres_location(settings) as uri:
        if uri is None:
            yield InMemorySaver()
            return
        async with open_pool(uri, settings) as pool:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            await _migrate_once(uri, "checkpoints", _CHECKPOINT_LOCK_KEY, saver.setup)
            yield saver


def make_store() -> AbstractAsyncContextManager[GuardedStore]:
    """The ``store`` factory named in ``langgraph.json``: the process's settings."""
    return open_store()


def make_checkpointer() -> AbstractAsyncContextManager[BaseCheckpointSaver]:
    """The ``checkpointer`` factory named in ``langgraph.json``."""
    return open_checkpointer()


@contextmanager
def open_store_sync(settings: Settings | None = None) -> Iterator[GuardedStore]:
    """``open_store`` for sync code: the same store, served by a background event loop.

    The store's sync methods, ``run_sync`` and ``graph.invoke`` (whose nodes run in the
    calling thread) all hand their work to that loop, so a sync script uses the one
    implementation the server uses -- recall, snapshots and TTL sweeper included.

    Raises:
        BlockingCallError: Called on an event loop's thread; use ``open_store`` there.
        StoreUnavailableError, EmbeddingDimensionMismatchError: As ``open_store``.
    """
    with on_background_loop(open_store(settings)) as store:
        yield store


@contextmanager
def open_checkpointer_sync(settings: Settings | None = None) -> Iterator[BaseCheckpointSaver]:
    """``open_checkpointer`` for sync code, served by a background event loop.

    ``AsyncPostgresSaver``'s sync methods (which ``graph.invoke`` calls) run on that loop.
    """
    with on_background_loop(open_checkpointer(settings)) as saver:
        yield saver


@contextmanager
def on_background_loop(opener: AbstractAsyncContextManager[T]) -> Iterator[T]:
    """Enter and exit an async context manager on an event loop running in its own thread.

    The opened object lives on that loop for the whole block, as it would in the server;
    when the block ends it is closed there, and the loop's remaining tasks (the store's
    batch merger) are cancelled before the thread ends.

    Raises:
        BlockingCallError: Called on an event loop's thread, which the block would block.
    """
    refuse_on_event_loop("open_store_sync / open_checkpointer_sync")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="memory-casts-loop", daemon=True)
    thread.start()

    def run(coroutine: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(as_coroutine(coroutine), loop).result()

    try:
        value = run(opener.__aenter__())
        try:
            yield value
        except BaseException as error:
            if not run(opener.__aexit__(type(error), error, error.__traceback__)):
                raise
        else:
            run(opener.__aexit__(None, None, None))
    finally:
        run(_cancel_other_tasks())
        run(loop.shutdown_asyncgens())
        run(loop.shutdown_default_executor())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _cancel_other_tasks() -> None:
    """Cancel and await every task of the running loop but this one."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
