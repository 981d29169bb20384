"""Which items of a namespace changed since a reader last looked, on PostgreSQL.

An in-process copy of a namespace (``casts.memory.recall_cache``) must see every write,
by any process, before it answers. Triggers on LangGraph's ``store`` and ``store_vectors``
log each changed ``(prefix, key)`` with the writing transaction's id; a reader asks for the
keys logged at or after its *watermark* and reads their current rows in the same statement.

The watermark is the oldest transaction still running when the reader's statement took its
snapshot (``pg_snapshot_xmin``), not the newest id seen: transactions commit out of id
order, so a change by a transaction that was still running is read again next time,
rather than missed. Every transaction below the watermark had ended, so its changes are
in what the reader saw. Re-reading a key is harmless (its current row replaces the copy).

- A statement that changes more than ``BULK_ROWS`` items of one namespace (an import, a
  TTL sweep) logs the namespace once, key NULL: readers reload it whole.
- Log entries older than ``RETENTION`` are pruned (``prune``); the newest pruned
  transaction id is kept, and a reader whose watermark is not past it reloads.
- Nothing is shared between writers but the append-only log: no counter row that
  concurrent writers would queue on, so no new lock waits or deadlocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from casts.memory.sql_scope import prefix_of, within_namespace

CHANGES_TABLE = "memory_casts_changes"
PRUNED_TABLE = "memory_casts_changes_pruned"
LOG_FUNCTION = "memory_casts_log_changes"
BULK_ROWS = 1_000
RETENTION = "1 hour"
LOGGED_TABLES = ("store", "store_vectors")
_EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}

# One function for every trigger: each names its transition table ``changed_rows``.
_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {LOG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {CHANGES_TABLE} (prefix, key)
    SELECT DISTINCT r.prefix, CASE WHEN r.n > {BULK_ROWS} THEN NULL ELSE r.key END
    FROM (SELECT prefix, key, count(*) OVER (PARTITION BY prefix) AS n
          FROM changed_rows) r;
    RETURN NULL;
END $$"""


def _triggers(table: str) -> list[str]:
    """Statement-level triggers (one per event: a transition table allows no more)."""
    return [
        f"CREATE OR REPLACE TRIGGER {LOG_FUNCTION}_{event} AFTER {event.upper()} ON {table} "
        f"REFERENCING {rows} TABLE AS changed_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {LOG_FUNCTION}()"
        for event, rows in _EVENTS.items()
    ]


CHANGES_FUNCTION = "memory_casts_changes_since"
# Read by the catch-up and the load alike: the watermark of the reading statement, whether
# an item (alias ``s``) is still live, and its embeddings as text, one per embedded field.
_WATERMARK = "pg_snapshot_xmin(pg_current_snapshot())::text"
_ALIVE = "(s.expires_at IS NULL OR s.expires_at > NOW())"
_EMBEDDINGS = (
    "ARRAY(SELECT sv.embedding::text FROM store_vectors sv "
    "WHERE sv.prefix = s.prefix AND sv.key = s.key ORDER BY sv.field_name)"
)
_NO_EMBEDDINGS = "ARRAY[]::text[]"
# Raised whenever the log's SQL changes: a database whose functions carry another comment
# gets them (and the triggers) created again.
CHANGE_LOG_VERSION = 1
_VERSION_COMMENT = f"memory-casts change log v{CHANGE_LOG_VERSION}"


def _changes_select(vectors: str) -> str:
    """The catch-up query of ``_CHANGES_FUNCTION``, embeddings given by ``vectors``."""
    return f"""
        SELECT {_WATERMARK},
            (SELECT p.pruned_through::text FROM {PRUNED_TABLE} p), ch.part,
            ch.prefix, ch.key, s.prefix, s.key, s.value, s.created_at, s.updated_at,
            s.expires_at, s.ttl_minutes IS NOT NULL, {vectors}
        FROM (SELECT 1) one
        LEFT JOIN (
            SELECT DISTINCT q.part, c.prefix, c.key
            FROM unnest(namespaces, since) WITH ORDINALITY AS q(ns, since, part)
            JOIN {CHANGES_TABLE} c ON c.prefix >= q.ns AND c.prefix < q.ns || '/'
                AND (c.prefix = q.ns OR c.prefix >= q.ns || '.') AND c.xid >= q.since) ch
            ON true
        LEFT JOIN LATERAL (
            SELECT * FROM store s
            WHERE s.prefix = ch.prefix COLLATE "default" AND s.key = ch.key AND {_ALIVE}
            LIMIT 1) s ON true"""


# The catch-up as a function: its plans are made once per connection (generic plans,
# which suit its index lookups), where the same statement sent by the client was planned
# again on every call -- most of its cost. STABLE: it reads with the calling statement's
# snapshot, so the watermark matches the rows. The namespace and its sub-namespaces as
# one index range, "ns" <= prefix < "ns/" ("/" follows "." in the log's "C" order), less
# the other prefixes in it ("ns-x"). The log's prefix is compared to ``store``'s in the
# database's collation, so the lookup uses ``store``'s primary key. ``store_vectors``
# exists only where the store embeds; a PL/pgSQL branch is planned only when it runs.
_CHANGES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {CHANGES_FUNCTION}(namespaces text[], since xid8[])
    RETURNS TABLE (watermark text, pruned text, part bigint, changed_prefix text,
        changed_key text, prefix text, key text, value jsonb, created_at timestamptz,
        updated_at timestamptz, expires_at timestamptz, has_ttl boolean, vectors text[])
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
    IF to_regclass('store_vectors') IS NULL THEN
        RETURN QUERY {_changes_select(_NO_EMBEDDINGS)};
    ELSE
        RETURN QUERY {_changes_select(_EMBEDDINGS)};
    END IF;
END $$"""

MIGRATION = (
    f"""CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (
        prefix text COLLATE "C" NOT NULL,
        key text,
        xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        changed_at timestamptz NOT NULL DEFAULT now())""",
    f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_prefix_xid_idx ON {CHANGES_TABLE} (prefix, xid)",
    f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_changed_at_idx ON {CHANGES_TABLE} "
    "USING brin (changed_at)",
    f"""CREATE TABLE IF NOT EXISTS {PRUNED_TABLE} (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        pruned_through xid8 NOT NULL)""",
    f"INSERT INTO {PRUNED_TABLE} (pruned_through) VALUES ('0') ON CONFLICT DO NOTHING",
    _FUNCTION,
    _CHANGES_FUNCTION,
    f"COMMENT ON FUNCTION {CHANGES_FUNCTION}(text[], xid8[]) IS '{_VERSION_COMMENT}'",
)

# Whether the log is in place: its function and every trigger (an SQL expression).
# ``store_vectors`` exists only where the store embeds.
READY = f"""(to_regproc('{LOG_FUNCTION}') IS NOT NULL
    AND coalesce(obj_description(to_regprocedure('{CHANGES_FUNCTION}(text[], xid8[])'),
                                 'pg_proc') = '{_VERSION_COMMENT}', false)
    AND (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '{LOG_FUNCTION}_%%')
        = {len(_EVENTS)} * (SELECT count(*) FROM unnest(ARRAY{list(LOGGED_TABLES)}) t
                           WHERE to_regclass(t) IS NOT NULL))"""


def _row_columns(vectors: bool) -> str:
    """Current rows of the items read, with their embeddings as text where the store has them.

    ``store_vectors`` exists only where the store embeds.
    """
    return f"""
    s.prefix, s.key, s.value, s.created_at, s.updated_at, s.expires_at,
    s.ttl_minutes IS NOT NULL AS has_ttl, {_EMBEDDINGS if vectors else _NO_EMBEDDINGS} AS vectors"""


def load_query(
    namespace: tuple[str, ...], limit: int, *, vectors: bool
) -> tuple[str, dict[str, Any]]:
    """Every live item of ``namespace`` and under it, unless there are more than ``limit``.

    Returns rows of ``_row_columns`` plus ``watermark`` and ``too_many``; a namespace with
    no items (or too many) gives one row of NULLs carrying those two.
    """
    within, params = within_namespace("s", namespace)
    sql = f"""
WITH size AS MATERIALIZED (
    SELECT count(*) > %(limit)s AS too_many
    FROM (SELECT 1 FROM store s WHERE {within} LIMIT %(limit)s + 1) x)
SELECT {_WATERMARK} AS watermark, size.too_many, {_row_columns(vectors)}
FROM size LEFT JOIN store s ON NOT size.too_many AND {within} AND {_ALIVE}"""
    return sql, {**params, "limit": limit}


def changes_query(parts: Sequence[tuple[tuple[str, ...], int]]) -> tuple[str, dict[str, Any]]:
    """The items changed at or after each watermark, in each namespace and under it.

    Args:
        parts: ``(namespace, watermark)`` of each copy to catch up, in one statement.

    Returns rows of ``CHANGES_FUNCTION`` (see ``_CHANGES_FUNCTION``); ``part`` counts from 1.
    """
    sql = f"SELECT * FROM {CHANGES_FUNCTION}(%(namespaces)s::text[], %(since)s::xid8[])"
    params = {
        "namespaces": [prefix_of(namespace) for namespace, _ in parts],
        "since": [str(since) for _, since in parts],
    }
    return sql, params


def must_reload(rows: Sequence[dict[str, Any]], part: int, since: int) -> bool:
    """Whether the copy of ``part`` (from 1) must be loaded again rather than caught up.

    A statement changed the namespace in bulk (logged without a key), or log entries the
    copy has not seen may have been pruned.
    """
    if int(rows[0]["pruned"]) >= since:
        return True
    return any(row["part"] == part and row["changed_key"] is None for row in rows)


PRUNE = f"""
WITH gone AS (
    DELETE FROM {CHANGES_TABLE} WHERE changed_at < now() - %(retention)s::interval
    RETURNING xid)
UPDATE {PRUNED_TABLE} SET pruned_through = greatest(pruned_through, (SELECT max(xid) FROM gone))
WHERE EXISTS (SELECT 1 FROM gone)"""


async def ensure_change_log(conn: AsyncConnection[Any]) -> None:
    """Create the log, its function and triggers (idempotent; run under the migration lock)."""
    for statement in MIGRATION:
        await conn.execute(statement)
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(
            "SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL",
            (list(LOGGED_TABLES),),
        )
        existing = [table for (table,) in await cursor.fetchall()]
    for table in existing:
        for statement in _triggers(table):
            await conn.execute(statement)


async def prune(conn: AsyncConnection[Any]) -> None:
    """Drop log entries older than ``RETENTION``, remembering the newest transaction dropped."""
    await conn.execute(PRUNE, {"retention": RETENTION})
