r"""Recall on PostgreSQL: both signals computed in the database, in one statement.

Loading a user's whole memory into Python for every query does not scale; here PostgreSQL
finds the candidates and only they come back, from one statement (one round trip; the
query's terms are extracted inside it):

- lexical: BM25 over the terms of ``value->>'content'``, made by the same analyzer as on
  the Python side (``casts.memory.analyzer_sql``: same words, stop words and stemmer, so
  an item ranks the same on both backends), kept in a generated column of ``store``. Its
  GIN index is on ``(prefix, content_tsv)`` (``btree_gin``), so the index itself answers
  "items of *this* namespace containing any query term": cost follows the user's matching
  memories, not every user's. Items are read for the query's rare terms; a term common in
  the namespace (judged on a sample) only adds to their scores, and its own items are read
  only when MaxScore's bound says they could still rank (``_lexical_ctes``), so the
  ranking stays exact. A rare term's document frequency is counted over the items read,
  which hold every occurrence, so its IDF is exact; a common term's is estimated from the
  sample. Term frequency is the real one up to ``MAX_TERM_FREQUENCY``, as in Python, read
  off ``ts_rank`` (``_term_frequency``); length is the number of distinct terms, on both
  backends.
- semantic: pgvector cosine distance over ``store_vectors``. LangGraph's HNSW index covers
  every user and filters to the namespace *after* the scan, so on its own it returns a
  small namespace few or none of its own vectors. Hence two plans, chosen inside the
  statement by the namespace's size: up to ``EXACT_SCAN_LIMIT`` items an exact scan of the
  namespace (its primary-key index; a few ms per 10k vectors); above it the HNSW index
  through ``memory_casts_nearest``, a function that turns on pgvector's iterative scan for
  itself only, so the scan continues until the namespace's nearest are found (a large
  namespace is a large share of the index, so that is quick).

The same scope applies to both: namespace prefix, the filter (ranges compared as numbers,
like ``GuardedStore``), expired items left out. ``refresh_ttl`` extends the TTL of the items
finally returned when the store refreshes on read.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.store.base import SearchItem
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from casts.memory import change_log
from casts.memory.analyzer_sql import ANALYZER_COMMENT, TERMS_FUNCTION, function_sql
from casts.memory.errors import InvalidValueError
from casts.memory.fusion import Candidates, ItemId, Weights
from casts.memory.lexical import K1, MAX_TERM_FREQUENCY, B
from casts.memory.pglocks import advisory_lock
from casts.memory.sql_scope import namespace_of, prefix_of, within_namespace

LEXICAL_COLUMN = "content_tsv"
LEXICAL_INDEX = "store_prefix_content_tsv_idx"
NEAREST_FUNCTION = "memory_casts_nearest"
# Namespaces up to this many items get an exact vector scan (its cost grows with the
# namespace, ~0.4 ms per 1k vectors); larger ones the HNSW index, whose filtered scan costs
# more the smaller the namespace's share of the index. Measured among 1.1M items: exact
# 4 ms vs HNSW 78 ms p50 for 10k vectors, exact 40 ms vs HNSW 8 ms for 100k.
EXACT_SCAN_LIMIT = 40_000
_MIGRATION_LOCK_KEY = 72_317_010
# A query term in more of the namespace's items than this is "common": items are not read
# for it alone (see ``_lexical_ctes``), so small namespaces never prune.
COMMON_TERM_DF = 1_000
# Items of the namespace read to tell common terms from rare ones (~1 ms).
TERM_SAMPLE = 1_000
# Most a term adds to any item's score per unit of its IDF (MaxScore's bound): BM25's
# tf (k1 + 1) / (tf + norm) at the largest counted tf and the smallest norm (length 0).
TERM_BOUND = MAX_TERM_FREQUENCY * (K1 + 1) / (MAX_TERM_FREQUENCY + K1 * (1 - B))

# The searchable form of each memory, computed by PostgreSQL on every write (a generated
# column: LangGraph's own INSERT/UPDATE keep it current) and indexed for ``@@`` together
# with the prefix (``btree_gin``; ``COLLATE "C"`` makes equality the same in any database
# collation). Analysing the text at query time costs ~100 us per matching item, too slow
# for 10k memories. The column is rebuilt (dropped and added again: one rewrite of
# ``store``) when it was made by another analyzer: PostgreSQL's ``english`` one before
# ``TERMS_FUNCTION`` existed, or an earlier ``ANALYZER_VERSION``. The nearest-vector
# function scopes pgvector's iterative scan to itself: set for a whole connection, it would
# also slow the stock ``store.search`` of small namespaces (the scan then walks much of the
# index looking for their vectors).
_LEXICAL_COLUMN_SQL = (
    f"ADD COLUMN {LEXICAL_COLUMN} tsvector GENERATED ALWAYS AS "
    f"({TERMS_FUNCTION}(coalesce(value->>'content', ''))) STORED"
)
LEXICAL_MIGRATION = (
    f'CREATE INDEX IF NOT EXISTS {LEXICAL_INDEX} ON store USING gin ((prefix COLLATE "C"), '
    f"{LEXICAL_COLUMN})",
    "DROP INDEX IF EXISTS store_content_tsv_idx",  # the earlier index over all users at once
)
# Case mapping and letter classes of the analyzer: Unicode's, as Python's, where the
# database has PostgreSQL's builtin Unicode collation (UTF-8, PostgreSQL 18); else the
# database's own.
_UNICODE_COLLATION = "pg_unicode_fast"
# What the migration needs to know, without locks: the comment of the analyzer function
# records its version, the column's generation expression which function made it.
_STATE = f"""
SELECT to_regclass(%(index)s) IS NOT NULL AS indexed,
    to_regtype('vector') IS NOT NULL AS vectors,
    to_regproc(%(nearest)s) IS NOT NULL AS nearest,
    to_regcollation(%(collation)s) IS NOT NULL AS unicode,
    coalesce(obj_description(to_regprocedure(%(analyzer)s), 'pg_proc') = %(comment)s
             AND (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
                  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                  WHERE d.adrelid = to_regclass('store') AND a.attname = %(column)s)
                 LIKE %(uses)s, false) AS analyzed,
    {change_log.READY} AS logged"""
# Only where the store keeps vectors (pgvector's type exists).
NEAREST_MIGRATION = f"""
CREATE OR REPLACE FUNCTION {NEAREST_FUNCTION}(prefixes text[], query vector, n int)
    RETURNS TABLE (prefix text, key text, distance float8)
    LANGUAGE sql STABLE
    SET hnsw.iterative_scan = 'relaxed_order'
    AS $$
        SELECT sv.prefix, sv.key, sv.embedding <=> query FROM store_vectors sv
        WHERE sv.prefix = ANY(prefixes) ORDER BY sv.embedding <=> query LIMIT n
    $$"""
_RANGES = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
# Query terms are extracted by PostgreSQL inside the statement into a fixed number of slots
# sized from the query's words. The analyzer makes at most one term of a word (Unicode
# edge cases aside); a query with more terms than slots is asked again with exact slots.
_WORD = re.compile(r"[^\W_]+")
MAX_SLOTS = 64

# Pools (or connections) whose database is known to be migrated.
_ready: weakref.WeakSet[Any] = weakref.WeakSet()


async def ensure_lexical_index(conn: AsyncConnection[Any]) -> None:
    """Add the full-text column, its index and the nearest-vector function unless they exist.

    Run after the store's own migrations (``store.setup()``). Safe from several processes:
    the state is read without locks first, changes run under an advisory lock, after
    reading it again. (Re)building the column rewrites ``store`` once, blocking it for a
    while (seconds per 100k short memories); later calls are a catalog lookup.
    """
    indexed, vectors, nearest, _, analyzed, logged = await _lexical_state(conn)
    if indexed and analyzed and logged and (nearest or not vectors):
        return
    async with advisory_lock(conn, _MIGRATION_LOCK_KEY):
        _, vectors, _, unicode, analyzed, _ = await _lexical_state(conn)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        if not analyzed:
            await _rebuild_lexical_column(conn, _UNICODE_COLLATION if unicode else None)
        for statement in LEXICAL_MIGRATION:
            await conn.execute(statement)
        if not analyzed:
            await _after_rewrite(conn)
        if vectors:
            await conn.execute(NEAREST_MIGRATION)
        await change_log.ensure_change_log(conn)


async def _after_rewrite(conn: AsyncConnection[Any]) -> None:
    """Statistics and visibility map of the rewritten ``store``, now (seconds per 1M items).

    Autovacuum would get to it later; until then the new column has no statistics, so the
    planner misjudges the lexical scans, and no page is known all-visible, so recall's
    count of a namespace on the prefix index visits the table for every item (recall over
    100k memories took half as long again). VACUUM cannot run in a transaction: a
    connection outside autocommit gets ANALYZE only.
    """
    await conn.execute("VACUUM (ANALYZE) store" if conn.autocommit else "ANALYZE store")


async def _lexical_state(conn: AsyncConnection[Any]) -> tuple[bool, ...]:
    """What ``ensure_lexical_index`` needs to know, from the catalog.

    Returns whether the index, pgvector, the nearest-vector function and the Unicode
    collation exist, and whether the column is made by the current analyzer.
    """
    params = {
        "index": LEXICAL_INDEX,
        "nearest": NEAREST_FUNCTION,
        "collation": _UNICODE_COLLATION,
        "analyzer": f"{TERMS_FUNCTION}(text)",
        "comment": ANALYZER_COMMENT,
        "column": LEXICAL_COLUMN,
        "uses": f"%{TERMS_FUNCTION}(%",
    }
    cursor = await conn.execute(_STATE, params, prepare=False)
    return tuple(bool(value) for value in _row_values(await cursor.fetchone()))


async def _rebuild_lexical_column(conn: AsyncConnection[Any], collation: str | None) -> None:
    """(Re)create the analyzer function and the column made by it, in one transaction.

    Dropping the old column drops its index too; ``LEXICAL_MIGRATION`` creates it again.
    """
    async with conn.transaction():
        for statement in function_sql(collation):
            await conn.execute(statement)
        await conn.execute(
            f"ALTER TABLE store DROP COLUMN IF EXISTS {LEXICAL_COLUMN}, {_LEXICAL_COLUMN_SQL}"
        )


def _row_values(row: Any) -> tuple[Any, ...]:
    """A row's values, whatever the connection's row factory."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


@asynccontextmanager
async def store_connection(store: AsyncPostgresStore) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of the store, its database migrated for recall.

    From the store's pool, or its single connection under its lock. The first use per pool
    runs ``ensure_lexical_index`` (a catalog lookup once migrated): recall and its change
    log must exist before anything relies on them.
    """
    if isinstance(store.conn, AsyncConnectionPool):
        async with store.conn.connection() as conn:
            await _ensure_ready(store, conn)
            yield conn
    else:
        async with store.lock:
            await _ensure_ready(store, store.conn)  # type: ignore[arg-type]
            yield store.conn  # type: ignore[misc]


async def _ensure_ready(store: AsyncPostgresStore, conn: AsyncConnection[Any]) -> None:
    if store.conn not in _ready:
        await ensure_lexical_index(conn)
        _ready.add(store.conn)


def _scope(
    namespace: tuple[str, ...], filter: dict[str, Any] | None
) -> tuple[str, str, list[str], dict[str, Any]]:
    """The scope of a search as SQL over alias ``s``: namespace, filter and expiry.

    Returns the whole condition; the namespace's own live items, filter aside (what the
    lexical signal samples, in key order on the primary key: a selective filter would make
    the sample read the whole namespace); the filter's own conditions (the semantic side
    applies them apart) and the parameters of all. The namespace itself
    is matched as ``prefix COLLATE "C"``, which the lexical index serves together with the
    terms; its sub-namespaces by ``LIKE``, which LangGraph's ``text_pattern_ops`` prefix
    index serves.
    """
    alive = "(s.expires_at IS NULL OR s.expires_at > NOW())"
    params: dict[str, Any] = {}
    conditions = _filter_clauses(filter, params)
    if not namespace:
        return " AND ".join([alive, *conditions]), alive, conditions, params
    within, namespace_params = within_namespace("s", namespace)
    params.update(namespace_params)
    scope = " AND ".join([alive, within, *conditions])
    return scope, f"s.prefix = %(ns)s AND {alive}", conditions, params


def _filter_clauses(filter: dict[str, Any] | None, params: dict[str, Any]) -> list[str]:
    """The store filter as SQL conditions over ``s.value``, adding their parameters."""
    clauses = []
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
    return clauses


def slots_for(query: str) -> int:
    """Term slots for ``query``: one per word (at least one, at most ``MAX_SLOTS``)."""
    return min(MAX_SLOTS, max(1, len(_WORD.findall(query))))


# The query's distinct terms, made by the analyzer of the stored column (sorted, as
# ``tsvector_to_array`` returns them), quoted so their characters are never operators,
# and each as a one-term tsquery.
_TERMS_CTE = rf"""
query_terms AS MATERIALIZED (
    SELECT coalesce(array_length(t.quoted, 1), 0) AS found, t.quoted, t.quoted::tsquery[] AS one
    FROM (SELECT ARRAY(
        SELECT '''' || replace(replace(x, '\', '\\'), '''', '''''') || ''''
        FROM unnest(tsvector_to_array({TERMS_FUNCTION}(%(query)s))) x) AS quoted) t
)"""


def _term_frequency(query: str) -> str:
    """How often the one-term ``query`` occurs in an item, up to ``MAX_TERM_FREQUENCY``.

    ``ts_rank`` of a one-term query, unnormalised, is sum(1/j^2 for j in 1..tf) / (pi^2/6),
    which grows with tf; pi^2/6 minus that sum is close to 1/(tf + 1/2), so rounding
    recovers tf. It reads only the term's entry of the stored tsvector, as ``@@`` does.
    0 when the term does not occur.
    """
    rank = f"ts_rank('{{1,1,1,1}}', s.{LEXICAL_COLUMN}, {query}, 0)::float8"
    return (
        f"CASE WHEN s.{LEXICAL_COLUMN} @@ {query} THEN least({MAX_TERM_FREQUENCY}, "
        f"round(1 / (1.6449340668482264 * (1 - {rank})) - 0.5)) ELSE 0 END"
    )


def _lexical_ctes(scope: str, sample_scope: str, slots: int, count: str) -> str:
    """BM25 CTEs with one unrolled expression per term slot, common terms pruned.

    A query word found in a quarter of 100k memories would make every query that has it
    read 25k rows, though such a word barely moves a score. So, as Lucene's common-terms
    query does, items are read for the query's *rare* terms; a *common* term (in more than
    ``COMMON_TERM_DF`` items, judged on a sample of the namespace) adds to the score of the
    items read anyway. MaxScore's bound keeps the ranking exact: after scoring the rare
    terms' items, the items of a common term are read too unless the common terms up to it
    cannot together beat the ``pool``-th score found. A rare term's document frequency is
    counted on the items read (every item holding it is read); a common term's is estimated
    from the sample (the namespace's own items, filter aside, scaled to the items in scope;
    a namespace that holds only sub-namespaces is not sampled and never prunes). An
    unfiltered namespace no larger than the sample is estimated exactly, and one of at most
    ``COMMON_TERM_DF`` items never prunes. Whatever the estimates, the bound is computed
    with the weights the scores use, so the top ``pool`` are those of unpruned scoring.

    Unrolling the per-term frequencies (instead of joining items to terms) avoids a join,
    sort and group over items x terms. Slots beyond the query's terms hold NULL and count nothing.
    Length normalisation averages over the rare terms' items (or, when every term is
    common, over the items read): the namespace's own average would cost reading all of it.
    """
    hits = ", ".join(
        f"{_term_frequency(f'(SELECT one[{i + 1}] FROM query_terms)')} AS tf{i}"
        for i in range(slots)
    )
    frequencies = ", ".join(
        f"count(*) FILTER (WHERE tf{i} > 0)::float8 AS df{i}" for i in range(slots)
    )
    estimates = ", ".join(
        f"count(*) FILTER (WHERE x.tsv @@ (SELECT one[{i + 1}] FROM query_terms))::float8 "
        "* (SELECT n FROM population) / greatest(count(*), 1)"
        for i in range(slots)
    )
    weights = ", ".join(
        _idf(f"CASE WHEN sp.common[{i + 1}] THEN sp.estimate[{i + 1}] ELSE st.df{i} END")
        for i in range(slots)
    )
    matches = f"s.{LEXICAL_COLUMN} @@ (SELECT {{}})"

    def docs(condition: str) -> str:
        return (
            f"SELECT s.prefix, s.key, length(s.{LEXICAL_COLUMN})::float8 AS len, {hits} "
            f"FROM store s WHERE {scope} AND {condition}"
        )

    def scored(source: str, length: str) -> str:
        norm = f"{K1} * (1 - {B} + {B} * d.len / greatest({length}, 1))"
        terms = " + ".join(
            f"CASE WHEN d.tf{i} > 0 THEN w.idf[{i + 1}] * d.tf{i} / (d.tf{i} + {norm}) ELSE 0 END"
            for i in range(slots)
        )
        return (
            f"SELECT d.prefix, d.key, ({terms}) * {K1 + 1} AS score FROM {source} d, term_weights w"
        )

    rare_docs = docs(matches.format("rare FROM term_split"))
    common_docs = docs(
        f"{matches.format('terms FROM needed')} AND NOT coalesce("
        f"{matches.format('rare FROM term_split')}, false)"
    )
    rare_scored = scored("docs_rare", "(SELECT dl FROM rare_stats)")
    common_scored = scored(
        "docs_common", "coalesce((SELECT dl FROM rare_stats), (SELECT avg(len) FROM docs_common))"
    )
    return f"""
population AS MATERIALIZED (SELECT ({count})::float8 AS n),
term_split AS MATERIALIZED (
    SELECT e.estimate, ARRAY(SELECT e.estimate[i] > %(common_df)s
                             FROM generate_series(1, {slots}) i) AS common,
        nullif(array_to_string(ARRAY(SELECT q.quoted[i] FROM generate_subscripts(q.quoted, 1) i
                                     WHERE e.estimate[i] <= %(common_df)s), ' | '),
            '')::tsquery AS rare
    FROM query_terms q, (
        SELECT ARRAY[{estimates}] AS estimate
        FROM (SELECT s.{LEXICAL_COLUMN} AS tsv FROM store s WHERE {sample_scope}
              ORDER BY s.prefix, s.key LIMIT %(sample)s) x) e
),
docs_rare AS MATERIALIZED (
    {rare_docs}
),
rare_stats AS MATERIALIZED (SELECT avg(len) AS dl, {frequencies} FROM docs_rare),
term_weights AS MATERIALIZED (
    SELECT ARRAY[{weights}] AS idf FROM term_split sp, rare_stats st, population p
),
lexical_rare AS MATERIALIZED (
    {rare_scored}
    ORDER BY score DESC, d.key LIMIT %(pool)s
),
needed AS MATERIALIZED (
    SELECT nullif(array_to_string(array_agg(c.quoted) FILTER (WHERE c.reach >= th.theta),
        ' | '), '')::tsquery AS terms
    FROM (SELECT q.quoted[i] AS quoted,
            sum(w.idf[i]) OVER (ORDER BY w.idf[i], i) * {TERM_BOUND} AS reach
          FROM query_terms q, term_split sp, term_weights w,
              generate_subscripts(q.quoted, 1) i
          WHERE sp.common[i]) c,
        (SELECT CASE WHEN count(*) < %(pool)s THEN 0 ELSE min(score) END AS theta
         FROM lexical_rare) th
),
docs_common AS MATERIALIZED (
    {common_docs}
),
lexical AS MATERIALIZED (
    SELECT prefix, key, score FROM lexical_rare
    UNION ALL
    {common_scored}
    ORDER BY score DESC, key LIMIT %(pool)s
)"""


def _idf(df: str) -> str:
    """BM25's inverse document frequency of a term in ``df`` of ``p.n`` items."""
    return f"ln(1 + (greatest(p.n, {df}) - {df} + 0.5) / ({df} + 0.5))"


# The namespace and its sub-namespaces (the prefixes ``store_vectors`` is keyed by), and
# how many items they hold (counted on LangGraph's prefix index).
_PREFIXES_CTE = r"""
prefixes AS MATERIALIZED (
    SELECT %(ns)s::text AS prefix, (SELECT count(*) FROM store WHERE prefix = %(ns)s) AS n
    UNION ALL
    SELECT prefix, count(*) FROM store WHERE prefix LIKE %(ns_like)s ESCAPE '\'
    GROUP BY prefix
),
size AS MATERIALIZED (SELECT sum(n) AS n FROM prefixes)"""

# An exact scan of a small namespace (``+ 0`` makes an ORDER BY the HNSW index cannot
# serve) or the HNSW index for a large one: one-time filters run exactly one of the two.
# With a store filter the exact scan joins the items first, so it still finds ``nearest``
# of them; the HNSW scan is filtered afterwards and may come back short (the lexical
# signal still finds the rest).
_NEAREST_CTE = """
nearest AS MATERIALIZED (
    (SELECT sv.prefix, sv.key, sv.embedding <=> %(vector)s::vector AS distance
     FROM store_vectors sv {join_exact}
     WHERE sv.prefix = ANY(ARRAY(SELECT prefix FROM prefixes)) {where}
       AND (SELECT n FROM size) <= %(exact_limit)s
     ORDER BY (sv.embedding <=> %(vector)s::vector) + 0
     LIMIT %(nearest)s)
    UNION ALL
    (SELECT v.prefix, v.key, v.distance
     FROM {function}(ARRAY(SELECT prefix FROM prefixes), %(vector)s::vector,
                     %(nearest)s) v {join_index}
     WHERE (SELECT n FROM size) > %(exact_limit)s {where})
)"""

# Recall over every namespace: nothing to filter, so the HNSW index alone.
_NEAREST_EVERYWHERE_CTE = """
nearest AS MATERIALIZED (
    SELECT sv.prefix, sv.key, sv.embedding <=> %(vector)s::vector AS distance
    FROM store_vectors sv
    ORDER BY sv.embedding <=> %(vector)s::vector
    LIMIT %(nearest)s
)"""

_SEMANTIC_CTE = """
semantic AS MATERIALIZED (
    SELECT n.prefix, n.key, 1 - min(n.distance) AS score
    FROM nearest n JOIN store s ON s.prefix = n.prefix AND s.key = n.key
    WHERE s.expires_at IS NULL OR s.expires_at > NOW()
    GROUP BY n.prefix, n.key ORDER BY score DESC, n.key LIMIT %(pool)s
)"""

_EMPTY = {
    "lexical": "lexical AS (SELECT NULL::text AS prefix, NULL::text AS key, "
    "NULL::float8 AS score WHERE false)",
    "semantic": "semantic AS (SELECT NULL::text AS prefix, NULL::text AS key, "
    "NULL::float8 AS score WHERE false)",
}

_SELECT = """
SELECT s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes,
    l.score AS lexical, m.score AS semantic, q.found AS terms_found
FROM (SELECT prefix, key FROM lexical UNION SELECT prefix, key FROM semantic) c
JOIN store s ON s.prefix = c.prefix AND s.key = c.key
CROSS JOIN query_terms q
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
    async with store_connection(store) as conn:
        await conn.execute(
            _REFRESH,
            ([prefix_of(item.namespace) for item in items], [item.key for item in items]),
        )


def _population(namespace: tuple[str, ...], filter: dict[str, Any] | None, scope: str) -> str:
    """How many items the BM25 statistics cover: the items in scope.

    Without a filter that is the namespace's size, counted on the prefix index alone, which
    is several times faster; expired items not yet swept then count too, which BM25 barely
    notices.
    """
    if filter or not namespace:
        return f"SELECT count(*) FROM store s WHERE {scope}"
    return "SELECT n FROM size"


def _semantic_ctes(namespace: tuple[str, ...], conditions: list[str]) -> str:
    """The semantic CTEs; ``conditions`` are the store filter's, over alias ``s``."""
    if not namespace:
        return _NEAREST_EVERYWHERE_CTE + "," + _SEMANTIC_CTE
    join = "JOIN store s ON s.prefix = {alias}.prefix AND s.key = {alias}.key" if conditions else ""
    nearest = _NEAREST_CTE.format(
        function=NEAREST_FUNCTION,
        join_exact=join.format(alias="sv"),
        join_index=join.format(alias="v"),
        where="".join(f" AND {condition}" for condition in conditions),
    )
    return nearest + "," + _SEMANTIC_CTE


def build_query(
    namespace: tuple[str, ...],
    filter: dict[str, Any] | None,
    *,
    slots: int,
    semantic: bool,
) -> tuple[str, dict[str, Any]]:
    """The candidate query and its parameters (all but query, vector, pool and nearest).

    Args:
        namespace: The namespace prefix searched.
        filter: The store filter.
        slots: Term slots of the lexical signal (``slots_for``); 0 leaves it out.
        semantic: Whether to rank by the embedding too.
    """
    scope, sample_scope, conditions, params = _scope(namespace, filter)
    ctes = [_TERMS_CTE]
    if namespace:
        ctes.append(_PREFIXES_CTE)
    if slots:
        count = _population(namespace, filter, scope)
        ctes.append(_lexical_ctes(scope, sample_scope, slots, count))
    else:
        ctes.append(_EMPTY["lexical"])
    ctes.append(_semantic_ctes(namespace, conditions) if semantic else _EMPTY["semantic"])
    params.update(exact_limit=EXACT_SCAN_LIMIT, common_df=COMMON_TERM_DF, sample=TERM_SAMPLE)
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
    slots = slots_for(query) if weights.uses_lexical else 0
    async with store_connection(store) as conn, conn.cursor(row_factory=dict_row) as cursor:
        while True:
            sql, params = build_query(namespace, filter, slots=slots, semantic=semantic)
            params.update(query=query, pool=pool, nearest=2 * pool, vector=vector)
            await cursor.execute(sql, params)
            rows = await cursor.fetchall()
            terms = rows[0]["terms_found"] if rows else 0
            if not slots or terms <= slots:
                return _candidates(rows)
            slots = terms


def _candidates(rows: list[dict[str, Any]]) -> Candidates:
    """The rows of the candidate query as ``Candidates``."""
    found = Candidates()
    for row in rows:
        item_id = (namespace_of(row["prefix"]), row["key"])
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
    # Best first, ties by key: the fusion breaks its own ties by this order, and the rows
    # come back in whatever order the plan produced them.
    found.lexical = _ranked(found.lexical)
    found.semantic = _ranked(found.semantic)
    return found


def _ranked(scores: dict[ItemId, float]) -> dict[ItemId, float]:
    """``scores`` in rank order: highest first, ties by namespace and key."""
    return dict(sorted(scores.items(), key=lambda pair: (-pair[1], pair[0])))
