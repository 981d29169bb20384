"""What the project's own SQL over LangGraph's tables shares: namespace scope and schema locks.

LangGraph keys items by ``prefix``: the namespace's labels joined with ".". Recall and the
store queries ask for "this namespace and everything under it" (``within_namespace``).
The project's migrations (additive: indexes and functions under its own names) run under an
advisory lock (``advisory_lock``), so processes starting together change the schema once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection


def prefix_of(namespace: tuple[str, ...]) -> str:
    """The ``prefix`` column value of ``namespace``."""
    return ".".join(namespace)


def namespace_of(prefix: str) -> tuple[str, ...]:
    """The namespace a ``prefix`` column value stands for."""
    return tuple(prefix.split("."))


def within_namespace(alias: str, namespace: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """``alias.prefix`` in ``namespace`` or under it, as SQL with parameters ``ns``, ``ns_like``.

    The namespace itself is matched as ``prefix COLLATE "C"`` (what the lexical index
    serves), its sub-namespaces by ``LIKE`` (LangGraph's
    ``text_pattern_ops`` prefix index).
    """
    path = prefix_of(namespace)
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    sql = (
        f"(({alias}.prefix COLLATE \"C\") = %(ns)s OR {alias}.prefix LIKE %(ns_like)s ESCAPE '\\')"
    )
    return sql, {"ns": path, "ns_like": f"{escaped}.%"}


POLL_INTERVAL_S = 0.05


TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"


@asynccontextmanager
async def advisory_lock(conn: AsyncConnection[Any], key: int) -> AsyncIterator[None]:
    """Hold a session-level advisory lock on ``conn`` (autocommit) for the block.

    The lock is polled with ``pg_try_advisory_lock`` rather than waited for: a session
    blocked inside ``pg_advisory_lock`` holds an open transaction, and a migration's
    ``CREATE INDEX CONCURRENTLY`` waits for every open transaction -- a deadlock.
    """
    while True:
        row = await (await conn.execute(TRY_LOCK, (key,))).fetchone()
        if (row["pg_try_advisory_lock"] if isinstance(row, dict) else row[0]) is True:
            break
        await asyncio.sleep(POLL_INTERVAL_S)
    try:
        yield
    finally:
        await conn.execute(UNLOCK, (key,))
