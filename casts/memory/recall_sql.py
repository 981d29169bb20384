r"""Recall on PostgreSQL: both signals computed in the database, in one statement.

Loading a user's whole memory into Python for every query does not scale; here PostgreSQL
finds the candidates and only they come back:

- lexical: BM25 over ``to_tsvector('english', value->>'content')`` (PostgreSQL's Snowball
  stemmer and stop words), kept in a generated column of ``store`` with a GIN index
  (``ensure_lexical_index``) that finds the items containing any query term. Document
  frequencies are counted over those items, which are exactly the items that contain a
  term, so the IDF is exact. Term frequency is
  taken as 1 (memories are short; a repeated word rarely matters) and length is the number
  of distinct terms.
- semantic: pgvector cosine distance over ``store_vectors``, as the stock search does: an
  exact scan of the namespace (its ``prefix`` index) when the namespace is small; LangGraph's
  HNSW index when the planner prefers it, which filters to the namespace *after* the index
  scan and can then return fewer semantic candidates than asked (the lexical signal still
  finds the rest; see the benchmark notes in the README).

The same scope applies to both: namespace prefix, the filter (ranges compared as numbers,
like ``GuardedStore``), expired items left out. ``refresh_ttl`` extends the TTL of the items
finally returned when the store refreshes on read.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.store.base import SearchItem
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from casts.memory.errors import InvalidValueError
from casts.memory.fusion import Candidates, Weights
from casts.memory.lexical import K1, B
from casts.memory.pglocks import advisory_lock

LEXICAL_COLUMN = "content_tsv"
LEXICAL_INDEX = "store_content_tsv_idx"
_MIGRATION_LOCK_KEY = 72_317_010

# The searchable form of each memory, computed by PostgreSQL on every write (a generated
# column: LangGraph's own INSERT/UPDATE keep it current) and indexed for ``@@``. Computing
# ``to_tsvector`` at query time costs ~60 us per matching item, too slow for 10k memories.
LEXICAL_MIGRATION = (
    f"ALTER TABLE store ADD COLUMN IF NOT EXISTS {LEXICAL_COLUMN} tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', coalesce(value->>'content', ''))) STORED",
    f"CREATE INDEX IF NOT EXISTS {LEXICAL_INDEX} ON store USING gin ({LEXICAL_COLUMN})",
)
_RANGES = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

# Pools (or connections) whose database is known to be migrated.
_ready: weakref.WeakSet[Any] = weakref.WeakSet()


async def ensure_lexical_index(conn: AsyncConnection[Any]) -> None:
    """Add the full-text column and its GIN index to ``store`` unless they exist.

    Run after the store's own migrations (``store.setup()``). Safe from several processes:
    existence is checked without locks first, creation runs under an advisory lock. Adding
    the column rewrites ``store`` once, blocking it briefly (about a second per 100k short
    memories); later calls are a catalog lookup.
    """
    cursor = await conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AS ready", (LEXICAL_INDEX,), prepare=False
    )
    row = await cursor.fetchone()
    if row and (row["ready"] if isinstance(row, dict) else row[0]):
        return
    async with advisory_lock(conn, _MIGRATION_LOCK_KEY):
        for statement in LEXICAL_MIGRATION:
            await conn.execute(statement)


@asynccontextmanager
async def _connection(store: AsyncPostgresStore) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of the store: from its pool, or its single connection under its lock."""
    if isinstance(store.conn, AsyncConnectionPool):
        async with store.conn.connection() as conn:
            yield conn
    else:
        async with store.lock:
            yield store.conn  # type: ignore[misc]


def _scope(namespace: tuple[str, ...], filter: dict[str, Any] | None) -> tuple[str, dict]:
    """SQL condition (over alias ``s``) and parameters for namespace, filter and expiry."""
    path = ".".join(namespace)
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    clauses = [
        "(s.expires_at IS NULL OR s.expires_at > NOW())",
    ]
    params: dict[str, Any] = {}
    if namespace:
        clauses.append(r"(s.prefix = %(ns)s OR s.prefix LIKE %(ns_like)s ESCAPE '\')")
        params.update(ns=path, ns_like=f"{escaped}.%")
    for position, (field, condition) in enumerate((filter or {}).items()):
        operators = (
            condition
            if isinstance(condition, dict) and any(k.startswith("$") for k in condition)
            else {"$eq": condition}
        )
        for number, (operator, bound) in enumerate(operators.items()):
            name = f"f{position}_{number}"
            params[f"{name}_key"] = field
            if operator in ("$eq", "$ne"):
                sign = "=" if operator == "$eq" else "IS DISTINCT FROM"
                clauses.append(f"s.value->%({name}_key)s {sign} %({name})s::jsonb")
                params[name] = json.dumps(bound)
            elif operator in _RANGES:
                if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                    raise InvalidValueError(f"filter.{field}.{operator}", "must be a number")
                clauses.append(
                    f"(CASE WHEN jsonb_typeof(s.value->%({name}_key)s) = 'number' "
                    f"THEN (s.value->>%({name}_key)s)::float8 END) {_RANGES[operator]} "
                    f"%({name})s"
                )
                params[name] = float(bound)
            else:
                raise InvalidValueError(f"filter.{field}", f"unsupported operator {operator}")
    return " AND ".join(clauses), params


_TERMS = (
    "SELECT array_agg(DISTINCT lexeme ORDER BY lexeme) AS terms "
    "FROM unnest(to_tsvector('english', %s))"
)


def tsquery_literal(lexeme: str) -> str:
    """A lexeme as tsquery text, quoted so its characters are never operators."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _lexical_ctes(scope: str, terms: list[str], count: str) -> tuple[str, dict[str, Any]]:
    """BM25 CTEs with one unrolled expression per query term.

    One pass over the matching items computes which terms each holds; document frequency
    and average length come from one aggregate over that pass. Unrolling (instead of
    joining items to terms) avoids a join, sort and group over items x terms: at 10k
    memories that is the difference between ~60 ms and ~10 ms.
    """
    params: dict[str, Any] = {f"t{i}": tsquery_literal(term) for i, term in enumerate(terms)}
    params["any_term"] = " | ".join(params[f"t{i}"] for i in range(len(terms)))
    hits = ", ".join(f"s.{LEXICAL_COLUMN} @@ %(t{i})s::tsquery AS h{i}" for i in range(len(terms)))
    frequencies = ", ".join(
        f"count(*) FILTER (WHERE h{i})::float8 AS df{i}" for i in range(len(terms))
    )
    idf = " + ".join(
        f"CASE WHEN d.h{i} THEN ln(1 + (p.n - st.df{i} + 0.5) / (st.df{i} + 0.5)) ELSE 0 END"
        for i in range(len(terms))
    )
    sql = f"""
docs AS MATERIALIZED (
    SELECT s.prefix, s.key, length(s.{LEXICAL_COLUMN})::float8 AS len, {hits}
    FROM store s
    WHERE {scope} AND s.{LEXICAL_COLUMN} @@ %(any_term)s::tsquery
),
stats AS MATERIALIZED (
    SELECT greatest(avg(len), 1) AS dl, {frequencies} FROM docs
),
population AS MATERIALIZED (SELECT ({count})::float8 AS n),
lexical AS MATERIALIZED (
    SELECT d.prefix, d.key,
        ({idf}) * {K1 + 1} / (1 + {K1} * (1 - {B} + {B} * d.len / st.dl)) AS score
    FROM docs d, stats st, population p
    ORDER BY score DESC, d.key
    LIMIT %(pool)s
)"""
    return sql, params


_SEMANTIC_CTE = """
nearest AS MATERIALIZED (
    SELECT sv.prefix, sv.key, sv.embedding <=> %(vector)s::vector AS distance
    FROM store_vectors sv JOIN store s ON s.prefix = sv.prefix AND s.key = sv.key
    WHERE {scope}
    ORDER BY distance
    LIMIT %(nearest)s
),
semantic AS MATERIALIZED (
    SELECT prefix, key, 1 - min(distance) AS score FROM nearest
    GROUP BY prefix, key ORDER BY score DESC, key LIMIT %(pool)s
)"""

_EMPTY = {
    "lexical": "lexical AS (SELECT NULL::text AS prefix, NULL::text AS key, "
    "NULL::float8 AS score WHERE false)",
    "semantic": "semantic AS (SELECT NULL::text AS prefix, NULL::text AS key, "
    "NULL::float8 AS score WHERE false)",
}

_SELECT = """
SELECT s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes,
    l.score AS lexical, m.score AS semantic
FROM (SELECT prefix, key FROM lexical UNION SELECT prefix, key FROM semantic) c
JOIN store s ON s.prefix = c.prefix AND s.key = c.key
LEFT JOIN lexical l ON l.prefix = c.prefix AND l.key = c.key
LEFT JOIN semantic m ON m.prefix = c.prefix AND m.key = c.key
"""

_REFRESH = """
UPDATE store SET expires_at = NOW() + (ttl_minutes || ' minutes')::interval
WHERE ttl_minutes IS NOT NULL AND (prefix, key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""


async def refresh_ttl(store: AsyncPostgresStore, items: list[SearchItem]) -> None:
    """Extend the TTL of the items recall returns, as the store's own search does.

    Pass only items that carry a TTL: most memories have none, and then the round trip is
    saved.
    """
    if not items or not (store.ttl_config or {}).get("refresh_on_read", False):
        return
    async with _connection(store) as conn:
        await conn.execute(
            _REFRESH,
            ([".".join(item.namespace) for item in items], [item.key for item in items]),
        )


def _population(namespace: tuple[str, ...], filter: dict[str, Any] | None, scope: str) -> str:
    """How many items the BM25 statistics cover: the items in scope.

    Without a filter they are counted on the prefix index alone, which is several times
    faster; expired items not yet swept then count too, which BM25 barely notices.
    """
    if filter or not namespace:
        return f"SELECT count(*) FROM store s WHERE {scope}"
    return (
        "(SELECT count(*) FROM store WHERE prefix = %(ns)s) + "
        r"(SELECT count(*) FROM store WHERE prefix LIKE %(ns_like)s ESCAPE '\')"
    )


def build_query(
    namespace: tuple[str, ...],
    filter: dict[str, Any] | None,
    *,
    terms: list[str],
    semantic: bool,
) -> tuple[str, dict[str, Any]]:
    """The candidate query and its parameters (except query vector and pool).

    Args:
        namespace: The namespace prefix searched.
        filter: The store filter.
        terms: The query's lexemes (``_TERMS``); none leaves the lexical signal out.
        semantic: Whether to rank by the embedding too.
    """
    scope, params = _scope(namespace, filter)
    ctes = []
    if terms:
        lexical, term_params = _lexical_ctes(scope, terms, _population(namespace, filter, scope))
        ctes.append(lexical)
        params.update(term_params)
    else:
        ctes.append(_EMPTY["lexical"])
    ctes.append(_SEMANTIC_CTE.format(scope=scope) if semantic else _EMPTY["semantic"])
    return "WITH " + ",".join(ctes) + _SELECT, params


async def postgres_candidates(
    store: AsyncPostgresStore,
    namespace: tuple[str, ...],
    query: str,
    *,
    filter: dict[str, Any] | None,
    pool: int,
    weights: Weights,
) -> Candidates:
    """Each signal's top ``pool`` items for ``query`` under ``namespace``, from one query."""
    semantic = weights.uses_semantic and bool(store.index_config)
    vector = await store.embeddings.aembed_query(query) if semantic else None  # type: ignore[union-attr]
    async with _connection(store) as conn:
        if store.conn not in _ready:
            await ensure_lexical_index(conn)
            _ready.add(store.conn)
        async with conn.cursor(row_factory=dict_row) as cursor:
            terms: list[str] = []
            if weights.uses_lexical:
                await cursor.execute(_TERMS, (query,))
                terms = ((await cursor.fetchone()) or {}).get("terms") or []
            sql, params = build_query(namespace, filter, terms=terms, semantic=semantic)
            params.update(pool=pool, nearest=2 * pool, vector=vector)
            await cursor.execute(sql, params)
            rows = await cursor.fetchall()
    found = Candidates()
    for row in rows:
        item_id = (tuple(row["prefix"].split(".")), row["key"])
        found.items[item_id] = SearchItem(
            namespace=item_id[0],
            key=row["key"],
            value=row["value"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        if row["lexical"] is not None:
            found.lexical[item_id] = float(row["lexical"])
        if row["semantic"] is not None:
            found.semantic[item_id] = float(row["semantic"])
        if row["ttl_minutes"] is not None:
            found.expiring.add(item_id)
    return found
