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

import time

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.store.postgres import PostgresStore
from psycopg.rows import dict_row

from casts.memory.core.errors import StoreUnavailableError

_LOCK_KEY = 72_317_003  # beside the store's and the checkpointer's (casts.memory.store.persistence)
_POLL_S = 0.1


def migrate(uri: str, timeout_s: float) -> None:
    """Apply the server's pending migrations to the database at ``uri``.

    Raises:
        StoreUnavailableError: PostgreSQL cannot be reached within ``timeout_s``.
    """
    from langgraph_runtime_pg.migrate import upgrade_head  # only in the server's venv

    try:
        conn = psycopg.connect(
            uri,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            connect_timeout=max(1, int(timeout_s)),
        )
    except psycopg.OperationalError as error:
        raise StoreUnavailableError(f"Cannot connect to PostgreSQL: {error}") from error
    with conn:
        take = "SELECT pg_try_advisory_lock(%s) AS ok"
        while not conn.execute(take, (_LOCK_KEY,)).fetchone()["ok"]:
            time.sleep(_POLL_S)
        try:
            upgrade_head(uri)
            PostgresSaver(conn).setup()
            PostgresStore(conn).setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
