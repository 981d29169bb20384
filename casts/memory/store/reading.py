"""Reading whole namespaces: the one way to get every item under a prefix, each exactly once.

``search`` stops at ``limit`` (10 by default), and paging it with ``offset`` is not exact on
PostgreSQL: LangGraph orders a search by ``updated_at`` alone, items written by one statement
share it, so consecutive pages overlap and items are skipped (and an item updated during the
paging moves to the front and is skipped too). Every caller that needs *everything* -- stats,
export, cleanup, session end, profile, knowledge and workspace listings -- reads here:

- PostgreSQL (``AsyncPostgresStore``, also behind ``GuardedStore``): straight from LangGraph's
  ``store`` table in one ``REPEATABLE READ READ ONLY`` transaction, through a server-side
  cursor in (prefix, key) order. Exact, streamed a page at a time, and a snapshot: the
  items committed when the read began, each with its value at that moment, whatever is
  written meanwhile.
- any other store (InMemoryStore): one search without a limit, which reads the backend's
  data in one synchronous step -- exact and a snapshot too.

Filters mean what the project's store makes them mean on every backend (nested objects by
equality, ranges numerically). Expired items are left out exactly when the store's own
search leaves them out (``ttl_config["omit_expired"]``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from typing import Any

from langgraph.store.base import BaseStore, SearchItem, SearchOp
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from casts.memory.core.errors import StoreUnavailableError
from casts.memory.core.namespaces import Namespace
from casts.memory.recall.sql import _filter_clauses, store_connection
from casts.memory.recall.sql import refresh_ttl as extend_ttls
from casts.memory.store.guarded import check_op
from casts.memory.store.postgres import namespace_of, prefix_of, within_namespace

# Rows fetched per round trip: a read holds one page of rows at a time.
PAGE_SIZE = 1000
# "No limit" for a backend that only reads through ``search``.
_EVERYTHING = sys.maxsize

_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
# Read through a server-side cursor: one statement, so one plan and one sort however large
# the namespace, fetched a page at a time. Key order makes exports comparable.
_READ_ALL = """
SELECT s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes
FROM store s
WHERE {scope}
ORDER BY s.prefix, s.key
"""
_LIVE = "(s.expires_at IS NULL OR s.expires_at > NOW())"


async def iter_items(
    store: BaseStore,
    prefix: Namespace = (),
    *,
    filter: dict[str, Any] | None = None,
) -> AsyncIterator[SearchItem]:
    """Every item under ``prefix`` (everything for ``()``), each once, as one snapshot.

    Streams: on PostgreSQL only a page of rows is held at a time, so exporting a million
    items needs the memory of one page. Never refreshes TTLs (an export or a cleanup is not
    a use of the items). The snapshot keeps one connection of the store for as long as the
    iteration runs: iterate to the end or close the iterator (``contextlib.aclosing``), and
    write to the store from inside the loop only when the store has a pool (the project's
    always has).

    Raises:
        InvalidNamespaceError, InvalidValueError: A bad prefix or filter, before reading.
        StoreUnavailableError: PostgreSQL gave no connection in time; nothing was read.
    """
    async with aclosing(_read(store, [tuple(prefix)], filter, refresh=False)) as rows:
        async for _, item in rows:
            yield item


async def asearch_all(
    store: BaseStore,
    *prefixes: Namespace,
    filter: dict[str, Any] | None = None,
    refresh_ttl: bool = True,
) -> list[list[SearchItem]]:
    """Every item under each prefix, each once, all prefixes read in one snapshot.

    Args:
        store: The project's store (or a raw LangGraph store).
        prefixes: Namespace prefixes to read.
        filter: A store filter, applied under every prefix.
        refresh_ttl: Extend the TTL of the items read where the store's TTL configuration
            says ``refresh_on_read``, as its own search does: a listing read for use (a
            profile, a workspace) keeps its items alive like any other read.

    Returns:
        One list of items per prefix, in the order given. Within a list the order is the
        backend's (key order on PostgreSQL, newest-updated first elsewhere): sort if it
        matters.

    Raises:
        InvalidNamespaceError, InvalidValueError: A bad prefix or filter, before reading.
        StoreUnavailableError: PostgreSQL gave no connection in time; nothing was read.
    """
    found: list[list[SearchItem]] = [[] for _ in prefixes]
    namespaces = [tuple(prefix) for prefix in prefixes]
    async with aclosing(_read(store, namespaces, filter, refresh=refresh_ttl)) as rows:
        async for position, item in rows:
            found[position].append(item)
    return found


# The newest ``limit`` items under each prefix (the prefix itself, or under it), in one
# statement: a turn reads its small listings (profile, preferences) in one round trip.
# "Under it" is the byte range from ``prefix.`` up to ``prefix/`` (``/`` follows ``.``),
# which LangGraph's ``text_pattern_ops`` prefix index serves for a prefix known only at run
# time (a ``LIKE`` pattern it serves only when it is a constant).
_NEWEST = """
SELECT l.position, s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes
FROM unnest(%(prefixes)s::text[]) WITH ORDINALITY l(prefix, position)
CROSS JOIN LATERAL (
    SELECT * FROM store s
    WHERE (s.prefix = l.prefix
           OR (s.prefix ~>=~ (l.prefix || '.') AND s.prefix ~<~ (l.prefix || '/')))
        AND {live}
    ORDER BY s.updated_at DESC, s.key LIMIT %(limit)s
) s
ORDER BY l.position, s.updated_at DESC, s.key
"""


async def newest_items(
    store: BaseStore, prefixes: list[Namespace], limit: int
) -> list[list[SearchItem]]:
    """The ``limit`` most recently updated items under each prefix, newest first.

    What a ``SearchOp(prefix, limit=limit)`` per prefix returns, but on PostgreSQL every
    prefix is read by one statement instead of one each: a memory agent turn reads its
    profile and preferences this way, concurrently with recall. TTLs are refreshed and
    expired items left out as the store's own search does.

    Raises:
        InvalidNamespaceError, InvalidValueError: A bad prefix or limit, before reading.
        StoreUnavailableError: PostgreSQL gave no connection in time; nothing was read.
    """
    ops = [SearchOp(tuple(prefix), limit=limit) for prefix in prefixes]
    for position, op in enumerate(ops):
        check_op(op, position)
    inner = getattr(store, "inner", store)
    if not isinstance(inner, AsyncPostgresStore):
        return [items or [] for items in await store.abatch(ops)]
    params = {"prefixes": [prefix_of(tuple(prefix)) for prefix in prefixes], "limit": limit}
    live = _LIVE if (inner.ttl_config or {}).get("omit_expired") else "TRUE"
    found: list[list[SearchItem]] = [[] for _ in prefixes]
    expiring: list[SearchItem] = []
    with unavailable_means_nothing_read():
        async with store_connection(inner) as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(_NEWEST.format(live=live), params)
            rows = await cursor.fetchall()
    for row in rows:
        item = _item(row)
        found[row["position"] - 1].append(item)
        if row["ttl_minutes"] is not None:
            expiring.append(item)
    await extend_ttls(inner, expiring)
    return found


async def _read(
    store: BaseStore,
    prefixes: list[Namespace],
    filter: dict[str, Any] | None,
    *,
    refresh: bool,
) -> AsyncIterator[tuple[int, SearchItem]]:
    """``(position of its prefix, item)`` for every item under each prefix."""
    for prefix in prefixes:
        check_op(SearchOp(prefix, filter=filter))
    inner = getattr(store, "inner", store)
    if not isinstance(inner, AsyncPostgresStore):
        ops = [
            SearchOp(prefix, filter=filter, limit=_EVERYTHING, refresh_ttl=refresh)
            for prefix in prefixes
        ]
        for position, items in enumerate(await store.abatch(ops)):
            for item in items or []:
                yield position, item
        return
    expiring: list[SearchItem] = []
    with unavailable_means_nothing_read():
        async for position, item, has_ttl in _postgres_rows(inner, prefixes, filter):
            if has_ttl:
                expiring.append(item)
            yield position, item
    if refresh:
        await extend_ttls(inner, expiring)


async def _postgres_rows(
    store: AsyncPostgresStore, prefixes: list[Namespace], filter: dict[str, Any] | None
) -> AsyncIterator[tuple[int, SearchItem, bool]]:
    """``(position, item, whether it has a TTL)`` from one read-only snapshot transaction.

    One cursor per prefix, so every row comes once; ``REPEATABLE READ`` makes all of them
    one snapshot, so nothing written meanwhile shifts or changes what they return.
    """
    base: dict[str, Any] = {}
    conditions = _filter_clauses(filter, base)
    if (store.ttl_config or {}).get("omit_expired"):
        conditions.append(_LIVE)
    async with store_connection(store) as conn, conn.transaction():
        await conn.execute(_SNAPSHOT)
        for position, prefix in enumerate(prefixes):
            scope, params = list(conditions), dict(base)
            if prefix:
                within, namespace_params = within_namespace("s", prefix)
                scope.append(within)
                params.update(namespace_params)
            sql = _READ_ALL.format(scope=" AND ".join(scope) or "TRUE")
            async with conn.cursor("memory_casts_read_all", row_factory=dict_row) as cursor:
                cursor.itersize = PAGE_SIZE
                await cursor.execute(sql, params)
                async for row in cursor:
                    yield position, _item(row), row["ttl_minutes"] is not None


def _item(row: dict[str, Any]) -> SearchItem:
    """A row of LangGraph's ``store`` table as the item its search returns."""
    return SearchItem(
        namespace=namespace_of(row["prefix"]),
        key=row["key"],
        value=row["value"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


@contextmanager
def unavailable_means_nothing_read() -> Iterator[None]:
    """A pool that gave no connection in time, as the error saying nothing was read."""
    try:
        yield
    except PoolTimeout as error:
        raise StoreUnavailableError(
            f"PostgreSQL is unavailable ({error}): nothing was read. Is the server down or "
            "restarting? Retry once it is back; the connection pool reconnects by itself."
        ) from error
