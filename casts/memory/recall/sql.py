r"""Recall on PostgreSQL: both signals computed in the database, in one statement.

Loading a user's whole memory into Python for every query does not scale; here PostgreSQL
finds the candidates and only they come back, from one statement (one round trip; the
query's terms are extracted inside it):

- lexical: BM25 over PostgreSQL's own ``english`` text search of ``value->>'content'``
  (``LEXICAL_DOCUMENT``). A GIN expression index (``LEXICAL_TERMS``) pairs each of an
  item's lexemes with a short hash of its namespace, so one index entry lists the items
  of *one* namespace holding *one* term: the cost follows the user's matching memories,
  not every user's. The query's terms are ``to_tsvector('english', query)``'s lexemes.
  Every matching item is counted, so each term's document frequency is exact; only a
  shortlist of them is analysed for the term frequencies and lengths of BM25
  (``_lexical_ctes``), which makes the backends rank slightly differently when many items
  match.
- semantic: pgvector cosine distance over ``store_vectors``. LangGraph's HNSW index covers
  every user and filters to the namespace *after* the scan, so on its own it returns a
  small namespace few or none of its own vectors. Hence two plans, chosen inside the
  statement by the namespace's size: up to ``EXACT_SCAN_LIMIT`` items an exact scan of the
  namespace (its primary-key index); above it the HNSW index through
  ``memory_casts_nearest``, a function that turns on pgvector's iterative scan for itself
  only, so the scan continues until the namespace's nearest are found.

The same scope applies to both: namespace prefix, the filter (ranges compared as numbers,
like ``GuardedStore``), expired items left out. ``refresh_ttl`` extends the TTL of the items
finally returned when the store refreshes on read.

Nothing is added to LangGraph's tables but an index; ``ensure_lexical_index`` also removes
what earlier versions added (a generated column, triggers, a change log, PL/pgSQL, the
``(prefix, to_tsvector(...))`` index).
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
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool

from casts.memory.core.errors import InvalidValueError
from casts.memory.recall.fusion import Candidates, ItemId, Weights
from casts.memory.recall.lexical import K1, MAX_TERM_FREQUENCY, B
from casts.memory.store.postgres import advisory_lock, namespace_of, prefix_of, within_namespace

# The searchable form of a memory, over alias ``s``, from which BM25 reads term frequencies
# and lengths.
LEXICAL_DOCUMENT = "to_tsvector('english'::regconfig, coalesce(s.value->>'content', ''))"
# What the lexical index holds per item: each of its lexemes paired with its namespace, as
# ``'<lexeme> <key of the prefix>'``. So one index entry lists the items of *one*
# namespace holding *one* term, and finding a user's matches never reads other users'.
# The prefix's key is a short hash (a full prefix in every entry would make the index much
# larger); items of another prefix sharing the hash are dropped by comparing ``prefix``.
# A lexeme never holds a space, so ``'<lexeme> ':*`` finds the term in every namespace.
TERMS_FUNCTION = "memory_casts_index_terms"
_PREFIX_KEY = "left(md5({prefix}), 8)"
LEXICAL_TERMS = f"{TERMS_FUNCTION}(s.prefix, s.value->>'content')"
LEXICAL_INDEX = "memory_casts_store_terms_idx"
NEAREST_FUNCTION = "memory_casts_nearest"
# Namespaces up to this many items get an exact vector scan (its cost grows with the
# namespace); larger ones the HNSW index, whose filtered scan costs more the smaller the
# namespace's share of the index.
EXACT_SCAN_LIMIT = 40_000
# Namespaces up to this many items are counted exactly; larger ones estimated (see
# ``_PREFIXES_CTE``).
COUNTED_ITEMS = 10_000
# How many times the candidates asked for the lexical side analyses (see ``_lexical_ctes``).
SHORTLIST_FACTOR = 4
# At most this many items holding one query term (in one prefix) are candidates for the
# shortlist; the term's document frequency is counted over all of them.
TERM_CANDIDATES = 1000
_MIGRATION_LOCK_KEY = 72_317_010

TERMS_FUNCTION_MIGRATION = f"""
CREATE OR REPLACE FUNCTION {TERMS_FUNCTION}(prefix text, content text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT array_to_tsvector(ARRAY(
            SELECT t || ' ' || {_PREFIX_KEY.format(prefix="prefix")}
            FROM unnest(tsvector_to_array(
                to_tsvector('english'::regconfig, coalesce(content, '')))) t))
    $$"""
# GIN queues new entries in a pending list that every search reads through, until a
# vacuum or the list's limit merges them into the index; a small limit (in kB) keeps that
# read short between vacuums, at the cost of merging more often while writing.
PENDING_LIST_KB = 256
# Migrations, in order; each is safe to run again.
_INDEX_MIGRATIONS = (
    TERMS_FUNCTION_MIGRATION,
    f"CREATE INDEX IF NOT EXISTS {LEXICAL_INDEX} ON store USING gin "
    f"({LEXICAL_TERMS.replace('s.', '')}) WITH (gin_pending_list_limit = {PENDING_LIST_KB})",
)
# What earlier versions added and recall no longer uses: the in-process copies' change log
# (its triggers on ``store`` and ``store_vectors``, function and tables), the generated
# ``content_tsv`` column with its indexes and the PL/pgSQL analyzer that made it, and the
# ``(prefix, to_tsvector(...))`` index (``btree_gin``), whose entries mix every user's items.
_OLD_TRIGGERS = tuple(
    f"memory_casts_log_changes_{event}" for event in ("insert", "update", "delete")
)
_OLD_TABLES = ("memory_casts_changes", "memory_casts_changes_pruned")
_OLD_FUNCTIONS = (
    "memory_casts_log_changes()",
    "memory_casts_changes_since(text[], xid8[])",
    "memory_casts_terms(text)",
)
_OLD_INDEXES = ("memory_casts_store_content_idx",)
_OLD_COLUMN = "content_tsv"
# What the migration needs to know, read without locks.
_STATE = """
SELECT to_regclass(%(index)s) IS NOT NULL AS indexed,
    to_regtype('vector') IS NOT NULL AS vectors,
    to_regproc(%(nearest)s) IS NOT NULL AS nearest,
    EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = ANY(%(triggers)s))
        OR EXISTS (SELECT 1 FROM unnest(%(tables)s::text[]) t WHERE to_regclass(t) IS NOT NULL)
        OR EXISTS (SELECT 1 FROM unnest(%(indexes)s::text[]) t WHERE to_regclass(t) IS NOT NULL)
        OR EXISTS (SELECT 1 FROM unnest(%(functions)s::text[]) f
                   WHERE to_regprocedure(f) IS NOT NULL)
        OR EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('store')
                   AND attname = %(column)s AND NOT attisdropped) AS outdated"""
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

# Pools (or connections) whose database is known to be migrated.
_ready: weakref.WeakSet[Any] = weakref.WeakSet()


async def ensure_lexical_index(conn: AsyncConnection[Any]) -> None:
    """Make the database ready for recall, once: index, nearest-vector function, no leftovers.

    Run after the store's own migrations (``store.setup()``). Safe from several processes:
    the state is read without locks first, changes run under an advisory lock, after
    reading it again. A database set up by an earlier version is migrated forward in one
    transaction (``_drop_outdated``). Building the index analyses every item once and
    blocks writes to ``store`` meanwhile; later calls are a catalog lookup.
    """
    indexed, vectors, nearest, outdated = await _state(conn)
    if indexed and not outdated and (nearest or not vectors):
        return
    async with advisory_lock(conn, _MIGRATION_LOCK_KEY):
        indexed, vectors, _, outdated = await _state(conn)
        if outdated:
            await _drop_outdated(conn)
        for statement in _INDEX_MIGRATIONS:
            await conn.execute(statement)
        if not indexed:
            # The planner needs the new expression's statistics to judge lexical scans.
            await conn.execute("ANALYZE store")
        if vectors:
            await conn.execute(NEAREST_MIGRATION)


async def _state(conn: AsyncConnection[Any]) -> tuple[bool, ...]:
    """Whether the index, pgvector and the nearest-vector function exist, and leftovers do."""
    params = {
        "index": LEXICAL_INDEX,
        "nearest": NEAREST_FUNCTION,
        "triggers": list(_OLD_TRIGGERS),
        "tables": list(_OLD_TABLES),
        "indexes": list(_OLD_INDEXES),
        "functions": list(_OLD_FUNCTIONS),
        "column": _OLD_COLUMN,
    }
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(_STATE, params, prepare=False)
        return tuple(bool(value) for value in await cursor.fetchone() or ())


async def _drop_outdated(conn: AsyncConnection[Any]) -> None:
    """Drop what earlier versions added to the database, in one transaction.

    Dropping a column only marks it dropped (no rewrite of ``store``); its space is reused
    as rows are updated, or reclaimed at once by ``VACUUM FULL store``.
    """
    async with conn.transaction(), conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute("SELECT to_regclass('store_vectors') IS NOT NULL")
        (vectors,) = await cursor.fetchone() or (False,)
        for table in ("store", "store_vectors") if vectors else ("store",):
            for trigger in _OLD_TRIGGERS:
                await cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        await cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_OLD_TABLES)}")
        await cursor.execute(f"DROP INDEX IF EXISTS {', '.join(_OLD_INDEXES)}")
        await cursor.execute(f"ALTER TABLE store DROP COLUMN IF EXISTS {_OLD_COLUMN}")
        for function in _OLD_FUNCTIONS:
            await cursor.execute(f"DROP FUNCTION IF EXISTS {function}")


@asynccontextmanager
async def store_connection(store: AsyncPostgresStore) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of the store, its database migrated for recall.

    From the store's pool, or its single connection under its lock. The first use per pool
    runs ``ensure_lexical_index`` (a catalog lookup once migrated), so recall's index
    exists before anything relies on it.
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


def _population(namespace: tuple[str, ...], filter: dict[str, Any] | None, scope: str) -> str:
    """How many items the BM25 statistics cover: the items in scope.

    Without a filter that is the namespace's size, counted on the prefix index alone (no
    table rows read) or, for a large namespace, estimated; expired items not yet swept
    then count too, which BM25 barely notices.
    """
    if filter or not namespace:
        return f"SELECT count(*) FROM store s WHERE {scope}"
    return "SELECT n FROM size"


def build_query(
    namespace: tuple[str, ...],
    filter: dict[str, Any] | None,
    *,
    lexical: bool,
    semantic: bool,
) -> tuple[str, dict[str, Any]]:
    """The candidate query and its parameters (all but query, vector, pool and nearest).

    Args:
        namespace: The namespace prefix searched.
        filter: The store filter.
        lexical: Whether to rank by BM25.
        semantic: Whether to rank by the embedding too.
    """
    scope, rest, conditions, params = _scope(namespace, filter)
    ctes = []
    if namespace:
        ctes.append(_PREFIXES_CTE)
    if lexical:
        ctes.append(_PROBES_CTE if namespace else _PROBES_EVERYWHERE_CTE)
        ctes.append(_lexical_ctes(rest, _population(namespace, filter, scope)))
    else:
        ctes.append(_EMPTY["lexical"])
    ctes.append(_semantic_ctes(namespace, conditions) if semantic else _EMPTY["semantic"])
    params.update(exact_limit=EXACT_SCAN_LIMIT, counted=COUNTED_ITEMS)
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
    sql, params = build_query(namespace, filter, lexical=weights.uses_lexical, semantic=semantic)
    params.update(query=query, pool=pool, nearest=2 * pool, vector=vector)
    async with store_connection(store) as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return _candidates(await cursor.fetchall())


def _scope(
    namespace: tuple[str, ...], filter: dict[str, Any] | None
) -> tuple[str, str, list[str], dict[str, Any]]:
    """The scope of a search as SQL over alias ``s``: namespace, filter and expiry.

    Returns the whole condition; the same without the namespace (the lexical side finds
    the namespace's items through its index, one prefix at a time); the filter's own
    conditions (the semantic side applies them apart) and the parameters of all.
    """
    alive = "(s.expires_at IS NULL OR s.expires_at > NOW())"
    params: dict[str, Any] = {}
    conditions = _filter_clauses(filter, params)
    rest = " AND ".join([alive, *conditions])
    if not namespace:
        return rest, rest, conditions, params
    within, namespace_params = within_namespace("s", namespace)
    params.update(namespace_params)
    return f"{within} AND {rest}", rest, conditions, params


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


# What the lexical index is asked: one probe per query term and prefix searched. The
# query's distinct lexemes come from PostgreSQL's ``english`` text search, like the items';
# each probe is a one-term tsquery of an index entry (quoted, so no character is an
# operator).
_QUERY_TERMS = "unnest(tsvector_to_array(to_tsvector('english'::regconfig, %(query)s))) x(lexeme)"
_QUOTED = r"('''' || replace(replace({entry}, '\', '\\'), '''', '''''') || '''')"
_PROBE = _QUOTED.format(entry="x.lexeme || ' ' || " + _PREFIX_KEY.format(prefix="p.prefix"))
_PROBES_CTE = f"""
probes AS MATERIALIZED (
    SELECT x.lexeme, p.prefix, {_PROBE}::tsquery AS probe
    FROM {_QUERY_TERMS} CROSS JOIN prefixes p WHERE p.n > 0
)"""
# Over every namespace: each term's entries of all prefixes, by a prefix match.
_PROBES_EVERYWHERE_CTE = f"""
probes AS MATERIALIZED (
    SELECT x.lexeme, NULL::text AS prefix,
        ({_QUOTED.format(entry="x.lexeme || ' '")} || ':*')::tsquery AS probe
    FROM {_QUERY_TERMS}
)"""


def _lexical_ctes(rest: str, count: str) -> str:
    """BM25 over the items in scope that hold a query term, as CTEs ending in ``lexical``.

    Each probe finds, with the index, the items of one prefix holding one query term
    (``matched``; ``OFFSET 0`` keeps the prefix check, which only drops another prefix's
    items sharing the hash, out of the scan: the planner would otherwise add the prefix
    index, reading all of a namespace's items). ``frequencies`` counts them all, so every
    term's document frequency is exact; ``hits`` keeps at most ``TERM_CANDIDATES`` of them
    per probe, so a word in most of a large user's memories costs a count, not a sort.
    ``shortlist`` keeps the hits with the largest sum of their terms' IDF,
    ``SHORTLIST_FACTOR`` times the ``pool``; only these are analysed (``analysed``: each
    term's frequency, up to ``MAX_TERM_FREQUENCY``, and the item's number of distinct
    terms) and scored by BM25 as in Python, the length averaged over them. Where no more
    items match than the shortlist holds, the scores are those of BM25 over the whole
    scope.

    Args:
        rest: The scope's conditions but the namespace, over alias ``s``.
        count: A query counting the items in scope.
    """
    matched = f"""(SELECT m.prefix, m.key FROM (
            SELECT s.prefix, s.key FROM store s
            WHERE {LEXICAL_TERMS} @@ q.probe AND {rest} OFFSET 0) m
        WHERE q.prefix IS NULL OR m.prefix = q.prefix)"""
    norm = f"{K1} * (1 - {B} + {B} * a.len / greatest(dl.len, 1))"
    return f"""
population AS MATERIALIZED (SELECT ({count})::float8 AS n),
frequencies AS MATERIALIZED (
    SELECT q.lexeme, sum((SELECT count(*) FROM {matched} c))::float8 AS df
    FROM probes q GROUP BY q.lexeme
),
hits AS MATERIALIZED (
    SELECT m.prefix, m.key, q.lexeme FROM probes q
    CROSS JOIN LATERAL (SELECT * FROM {matched} c LIMIT {TERM_CANDIDATES}) m
),
term_weights AS MATERIALIZED (
    SELECT f.lexeme, ln(1 + (greatest(p.n, f.df) - f.df + 0.5) / (f.df + 0.5)) AS idf
    FROM frequencies f, population p WHERE f.df > 0
),
shortlist AS MATERIALIZED (
    SELECT h.prefix, h.key FROM hits h JOIN term_weights w USING (lexeme)
    GROUP BY h.prefix, h.key ORDER BY sum(w.idf) DESC, h.prefix, h.key
    LIMIT %(pool)s * {SHORTLIST_FACTOR}
),
analysed AS MATERIALIZED (
    SELECT d.prefix, d.key, length(d.document)::float8 AS len, t.lexeme,
        least(cardinality(t.positions), {MAX_TERM_FREQUENCY})::float8 AS tf
    FROM (SELECT s.prefix, s.key, {LEXICAL_DOCUMENT} AS document
          FROM shortlist l JOIN store s ON s.prefix = l.prefix AND s.key = l.key OFFSET 0) d
    CROSS JOIN LATERAL unnest(d.document) t
    WHERE t.lexeme IN (SELECT lexeme FROM term_weights)
),
lexical AS MATERIALIZED (
    SELECT a.prefix, a.key, sum(w.idf * a.tf * {K1 + 1} / (a.tf + {norm})) AS score
    FROM analysed a JOIN term_weights w USING (lexeme)
    CROSS JOIN (SELECT avg(len) AS len FROM (SELECT DISTINCT prefix, key, len FROM analysed) x) dl
    GROUP BY a.prefix, a.key ORDER BY score DESC, a.prefix, a.key LIMIT %(pool)s
)"""


# The prefixes searched (the namespace's own and those under it) with their sizes. The
# namespace's own is counted up to ``COUNTED_ITEMS``; above that, counting costs more than
# the rest of recall, so its size is the planner's estimate (its share of ``store`` in the
# table's statistics, kept by autovacuum's ANALYZE), or the count so far where it has none.
_PREFIXES_CTE = r"""
counted AS MATERIALIZED (
    SELECT count(*) AS n FROM (SELECT 1 FROM store WHERE prefix = %(ns)s LIMIT %(counted)s) c
),
prefixes AS MATERIALIZED (
    SELECT %(ns)s::text AS prefix, CASE WHEN c.n < %(counted)s THEN c.n ELSE greatest(c.n, (
        SELECT (f.share * t.reltuples)::bigint
        FROM pg_class t JOIN pg_stats st ON st.tablename = t.relname
            AND st.schemaname = t.relnamespace::regnamespace::text AND st.attname = 'prefix'
        CROSS JOIN LATERAL unnest(st.most_common_vals::text::text[], st.most_common_freqs)
            f(prefix, share)
        WHERE t.oid = 'store'::regclass AND f.prefix = %(ns)s)) END AS n
    FROM counted c
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

# Expired items left out by looking each nearest one up on the primary key (``LATERAL``
# with ``LIMIT``: a plain join may hash the whole ``store`` table instead).
_SEMANTIC_CTE = """
semantic AS MATERIALIZED (
    SELECT n.prefix, n.key, 1 - min(n.distance) AS score
    FROM nearest n CROSS JOIN LATERAL (
        SELECT 1 FROM store s WHERE s.prefix = n.prefix AND s.key = n.key
            AND (s.expires_at IS NULL OR s.expires_at > NOW()) LIMIT 1) alive
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
    async with store_connection(store) as conn:
        await conn.execute(
            _REFRESH,
            ([prefix_of(item.namespace) for item in items], [item.key for item in items]),
        )


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
