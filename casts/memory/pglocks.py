"""Serialising schema changes across processes with PostgreSQL advisory locks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection

POLL_INTERVAL_S = 0.05


@asynccontextmanager
async def advisory_lock(conn: AsyncConnection[Any], key: int) -> AsyncIterator[None]:
    """Hold a session-level advisory lock on ``conn`` (autocommit) for the block.

    The lock is polled with ``pg_try_advisory_lock`` rather than waited for: a session
    blocked inside ``pg_advisory_lock`` holds an open transaction, and a migration's
    ``CREATE INDEX CONCURRENTLY`` waits for every open transaction -- a deadlock.
    """
    while True:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
        if (row["pg_try_advisory_lock"] if isinstance(row, dict) else row[0]) is True:
            break
        await asyncio.sleep(POLL_INTERVAL_S)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
