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

from casts.memory.sql_scope import within_namespace

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
)

# Whether the log is in place: its function and every trigger (an SQL expression).
# ``store_vectors`` exists only where the store embeds.
READY = f"""(to_regproc('{LOG_FUNCTION}') IS NOT NULL
    AND (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '{LOG_FUNCTION}_%%')
        = {len(_EVENTS)} * (SELECT count(*) FROM unnest(ARRAY{list(LOGGED_TABLES)}) t
                           WHERE to_regclass(t) IS NOT NULL))"""


def _row_columns(vectors: bool) -> str:
    """Current rows of the items read, with their embeddings as text where the store has them.

    ``store_vectors`` exists only where the store embeds.
    """
    embeddings = (
        """ARRAY(SELECT sv.embedding::text FROM store_vectors sv
              WHERE sv.prefix = s.prefix AND sv.key = s.key ORDER BY sv.field_name)"""
        if vectors
        else "ARRAY[]::text[]"
    )
    return f"""
    s.prefix, s.key, s.value, s.created_at, s.updated_at, s.expires_at,
    s.ttl_minutes IS NOT NULL AS has_ttl, {embeddings} AS vectors"""


_WATERMARK = "pg_snapshot_xmin(pg_current_snapshot())::text"


def load_query(
    namespace: tuple[str, ...], limit: int, *, vectors: bool
) -> tuple[str, dict[str, Any]]:
    """Every live item of ``namespace`` and under it, unless there are more than ``limit``.

    Returns rows of ``_row_columns`` plus ``watermark`` and ``too_many``; a namespace with
    no items (or too many) gives one row of NULLs carrying those two.
    """
    within, params = within_namespace("s", namespace)
    alive = "(s.expires_at IS NULL OR s.expires_at > NOW())"
    sql = f"""
WITH size AS MATERIALIZED (
    SELECT count(*) > %(limit)s AS too_many
    FROM (SELECT 1 FROM store s WHERE {within} LIMIT %(limit)s + 1) x)
SELECT {_WATERMARK} AS watermark, size.too_many, {_row_columns(vectors)}
FROM size LEFT JOIN store s ON NOT size.too_many AND {within} AND {alive}"""
    return sql, {**params, "limit": limit}


def changes_query(
    parts: Sequence[tuple[tuple[str, ...], int]], *, vectors: bool
) -> tuple[str, dict[str, Any]]:
    """The items changed at or after each watermark, in each namespace and under it.

    Args:
        parts: ``(namespace, watermark)`` of each copy to catch up, in one statement.
        vectors: Whether the store has ``store_vectors``.

    Returns rows of ``_row_columns`` (all NULL but ``part``, ``changed_prefix`` and
    ``changed_key`` for an item gone since), plus ``watermark`` and ``reload`` (per part,
    from 1: a bulk change, or log entries the copy may have missed were pruned); one row of
    NULLs besides those two when nothing changed.
    """
    params: dict[str, Any] = {}
    changed, reload = [], []
    for part, (namespace, since) in enumerate(parts):
        path = ".".join(namespace)
        # Sub-namespaces as a range: "ns." <= prefix < "ns/" ("/" follows "." in "C" order).
        params.update({f"ns{part}": path, f"sub{part}": f"{path}.", f"end{part}": f"{path}/"})
        params[f"since{part}"] = str(since)
        changed.append(
            f"SELECT DISTINCT {part} AS part, c.prefix, c.key FROM {CHANGES_TABLE} c "
            f"WHERE (c.prefix = %(ns{part})s OR (c.prefix >= %(sub{part})s "
            f"AND c.prefix < %(end{part})s)) AND c.xid >= %(since{part})s::text::xid8"
        )
        reload.append(
            f"EXISTS (SELECT 1 FROM changed WHERE part = {part} AND key IS NULL) "
            f"OR (SELECT pruned_through FROM {PRUNED_TABLE}) >= %(since{part})s::text::xid8"
        )
    sql = f"""
WITH changed AS MATERIALIZED ({" UNION ALL ".join(changed)}),
flags AS MATERIALIZED (SELECT {_WATERMARK} AS watermark, ARRAY[{", ".join(reload)}] AS reload)
SELECT f.watermark, f.reload, ch.part, ch.prefix AS changed_prefix, ch.key AS changed_key,
    {_row_columns(vectors)}
FROM flags f
LEFT JOIN changed ch ON ch.key IS NOT NULL AND NOT f.reload[ch.part + 1]
LEFT JOIN store s ON s.prefix = ch.prefix AND s.key = ch.key
    AND (s.expires_at IS NULL OR s.expires_at > NOW())"""
    return sql, params


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
    for table in LOGGED_TABLES:
        cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (table,))
        row = await cursor.fetchone()
        if row is not None and (row["found"] if isinstance(row, dict) else row[0]):
            for statement in _triggers(table):
                await conn.execute(statement)


async def prune(conn: AsyncConnection[Any]) -> None:
    """Drop log entries older than ``RETENTION``, remembering the newest transaction dropped."""
    await conn.execute(PRUNE, {"retention": RETENTION})
