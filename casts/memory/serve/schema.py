"""The server's tables, brought up to date once, before any server process starts.

Every ``langgraph-runtime-pg`` process migrates at start-up without a lock: its Alembic
tables (assistants, threads, runs, crons), and the stock checkpointer and store tables
(``setup()``, even when ``langgraph.json`` names custom ones). Processes starting together
on an empty database race: creating the same tables fails, and the checkpointer's
``CREATE INDEX CONCURRENTLY`` deadlocks. The launcher runs all three first, under one
PostgreSQL advisory lock, so the processes find everything current and change nothing.
The project's own store and checkpointer factories migrate under locks of their own.
"""

from __future__ import annotations

import asyncio

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg.rows import dict_row

from casts.memory.core.errors import StoreUnavailableError
from casts.memory.store.postgres import advisory_lock

_LOCK_KEY = 72_317_003  # beside the store's and the checkpointer's (casts.memory.store.persistence)


def migrate(uri: str, timeout_s: float) -> None:
    """Apply the server's pending migrations to the database at ``uri``.

    Raises:
        StoreUnavailableError: PostgreSQL cannot be reached within ``timeout_s``.
    """
    asyncio.run(_migrate(uri, timeout_s))


async def _migrate(uri: str, timeout_s: float) -> None:
    from langgraph_runtime_pg.migrate import upgrade_head  # only in the server's venv

    try:
        conn = await psycopg.AsyncConnection.connect(
            uri,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            connect_timeout=max(1, int(timeout_s)),
        )
    except psycopg.OperationalError as error:
        raise StoreUnavailableError(f"Cannot connect to PostgreSQL: {error}") from error
    async with conn, advisory_lock(conn, _LOCK_KEY):
        await asyncio.to_thread(upgrade_head, uri)  # Alembic's own, blocking
        await AsyncPostgresSaver(conn).setup()
        await AsyncPostgresStore(conn).setup()
