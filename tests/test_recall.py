"""Hybrid recall on both backends: what it finds, what it leaves out, where it runs."""

from __future__ import annotations

import hashlib
import itertools
import uuid

import psycopg
import pytest
from langgraph.store.base import PutOp

from casts.memory import namespaces
from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError
from casts.memory.core.records import Memory
from casts.memory.recall import sql as recall_sql
from casts.memory.recall.fusion import Weights
from casts.memory.recall.search import hybrid_search, recall
from casts.memory.recall.sql import LEXICAL_INDEX, ensure_lexical_index
from casts.memory.store.persistence import open_store
from casts.memory.store.transfer import put_many, puts
from tests.conftest import settings_for
from tests.conversation import FILLER


def memory(content: str, **extra: object) -> dict:
    return {**Memory(content=content).to_value(), **extra}


async def remember(store, namespace, contents: list[str], **extra: object) -> None:
    items = [(f"m{i}", memory(text, **extra)) for i, text in enumerate(contents)]
    await put_many(store, puts(namespace, items), progress=False)


async def test_rare_word_ranks_first(store, unique):
    space = namespaces.user_memories(unique("rare"))
    await remember(store, space, [*FILLER, "My sister adopted a greyhound named Comet"])
    found = await recall(store, space, "Who is Comet?", limit=3)
    assert found[0].value["content"].endswith("named Comet")
    assert len(found) == 3
    assert [item.score for item in found] == sorted((item.score for item in found), reverse=True)
    assert all(0.0 <= item.score <= 1.0 for item in found)


async def test_inflections_meet(store, unique):
    space = namespaces.user_memories(unique("stem"))
    await remember(store, space, [*FILLER, "She painted a sunrise over the lake last year"])
    found = await recall(store, space, "when was the painting of the sunrises", limit=1)
    assert found[0].value["content"].startswith("She painted a sunrise")


async def test_only_the_namespace_and_its_children(store, unique):
    mine, theirs = unique("mine"), unique("theirs")
    await remember(store, namespaces.user_memories(mine), ["I collect vintage typewriters"])
    await remember(store, namespaces.user_memories(theirs), ["I collect vintage cameras"])
    found = await recall(store, namespaces.user_root(mine), "vintage typewriters cameras")
    assert [item.value["content"] for item in found] == ["I collect vintage typewriters"]
    assert found[0].namespace == namespaces.user_memories(mine)


async def test_filters_apply_to_both_signals(store, unique):
    space = namespaces.user_memories(unique("filter"))
    await put_many(
        store,
        [
            PutOp(space, "a", memory("Trip to Lisbon in spring", topic="travel", stars=5)),
            PutOp(space, "b", memory("Lisbon trip budget notes", topic="money", stars=2)),
            PutOp(space, "c", memory("Trip to Porto", topic="travel", stars="5")),
        ],
        progress=False,
    )
    travel = await recall(store, space, "Lisbon trip", filter={"topic": "travel"})
    assert {item.key for item in travel} == {"a", "c"}
    rated = await recall(store, space, "Lisbon trip", filter={"stars": {"$gte": 3}})
    assert [item.key for item in rated] == ["a"]  # "5" is text, not a number
    not_money = await recall(store, space, "Lisbon", filter={"topic": {"$ne": "money"}})
    assert "b" not in {item.key for item in not_money}


async def test_stop_words_only_or_empty_query_still_lists(store, unique):
    space = namespaces.user_memories(unique("stop"))
    await remember(store, space, FILLER[:3])
    assert len(await recall(store, space, "what was it", limit=5)) == 3
    assert len(await recall(store, space, "   ", limit=2)) == 2
    assert await recall(store, space, "anything", limit=0) == []
    assert await recall(store, namespaces.user_memories(unique("nobody")), "anything") == []


async def test_updated_content_is_found_by_its_new_words(store, unique):
    space = namespaces.user_memories(unique("update"))
    await remember(store, space, [*FILLER, "I play the cello"])
    await store.aput(space, f"m{len(FILLER)}", memory("I switched to the bassoon"))
    found = await recall(store, space, "cello bassoon", limit=1)
    assert found[0].value["content"] == "I switched to the bassoon"
    assert await recall(store, space, "cello", limit=10) != []  # falls back to listing
    cello = await hybrid_search(store, space, "cello", limit=10, weights=Weights(lexical=1.0))
    assert all("cello" not in item.value["content"] for item in cello)


async def test_bad_input_is_refused(store):
    with pytest.raises(InvalidNamespaceError):
        await recall(store, ("user", "a.b"), "x")
    with pytest.raises(InvalidValueError):
        await recall(store, ("user", "x"), "x", limit=-1)


@pytest.mark.parametrize("weight", [0.0, 1.0])
async def test_each_signal_alone(store, unique, weight):
    space = namespaces.user_memories(unique("alone"))
    await remember(store, space, [*FILLER, "Our band rehearses in the basement"])
    found = await hybrid_search(
        store, space, "band rehearses basement", limit=1, weights=Weights(lexical=weight)
    )
    assert found[0].value["content"] == "Our band rehearses in the basement"


async def test_lexical_only_without_embeddings(backend, tmp_path, unique, database_factory):
    uri = database_factory() if backend == "postgres" else None
    settings = settings_for(backend, uri, tmp_path, MEMORY_EMBEDDINGS="none")
    async with open_store(settings) as store:
        space = namespaces.user_memories(unique("plain"))
        await remember(store, space, [*FILLER, "The recital is on the ninth of June"])
        found = await recall(store, space, "When is the recital?", limit=2)
        assert found[0].value["content"] == "The recital is on the ninth of June"


async def test_postgres_migration_is_idempotent(fresh_database, tmp_path):
    settings = settings_for("postgres", fresh_database, tmp_path)
    async with open_store(settings):
        pass
    async with await psycopg.AsyncConnection.connect(fresh_database, autocommit=True) as conn:
        await ensure_lexical_index(conn)
        await ensure_lexical_index(conn)
        cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (LEXICAL_INDEX,))
        assert (await cursor.fetchone())[0] is True


async def test_query_syntax_is_just_text(store, unique):
    space = namespaces.user_memories(unique("syntax"))
    await remember(store, space, [*FILLER, "O'Brien's café opens at 7 & closes late"])
    for query in ["O'Brien's café", "a & b | !c:* <-> (", "back\\slash 'quote'", "日本語"]:
        found = await recall(store, space, query, limit=3)
        assert len(found) == 3
    found = await recall(store, space, "O'Brien café", limit=1)
    assert found[0].value["content"].startswith("O'Brien's café")


async def test_postgres_refreshes_the_ttl_of_what_it_returns(postgres_uri, tmp_path, unique):
    settings = settings_for("postgres", postgres_uri, tmp_path)
    async with open_store(settings) as store:
        space = namespaces.user_memories(unique("ttl"))
        await store.aput(space, "old", memory("Renewed my passport in Lagos"), ttl=1.0)
        await store.aput(space, "other", memory("Unrelated note"), ttl=1.0)
        prefix = ".".join(space)
        async with await psycopg.AsyncConnection.connect(postgres_uri, autocommit=True) as conn:
            await conn.execute(
                "UPDATE store SET expires_at = NOW() + interval '10 seconds' WHERE prefix = %s",
                (prefix,),
            )
            found = await recall(store, space, "passport Lagos", limit=1)
            assert [item.key for item in found] == ["old"]
            cursor = await conn.execute(
                "SELECT key, expires_at > NOW() + interval '30 seconds' FROM store "
                "WHERE prefix = %s ORDER BY key",
                (prefix,),
            )
            assert await cursor.fetchall() == [("old", True), ("other", False)]


@pytest.mark.parametrize("plan", ["exact", "hnsw"])
async def test_postgres_semantic_signal_finds_all_of_a_small_namespace(
    plan, fresh_database, tmp_path, unique, monkeypatch
):
    # LangGraph's HNSW index filters by namespace after the scan: without the exact plan
    # (small namespaces) or the iterative scan (large ones), most of a namespace's own
    # vectors never came back among many other users' items.
    if plan == "hnsw":
        monkeypatch.setattr(recall_sql, "EXACT_SCAN_LIMIT", 0)
        # So few rows would rather be sorted than read through the index.
        monkeypatch.setenv("PGOPTIONS", "-c enable_seqscan=off -c enable_sort=off")
    async with open_store(settings_for("postgres", fresh_database, tmp_path)) as store:
        others = [
            PutOp(namespaces.user_memories(f"other-{i % 40}"), f"o{i}", memory(f"Note {i}"))
            for i in range(2000)
        ]
        await put_many(store, others, progress=False)
        space = namespaces.user_memories(unique("few"))
        await remember(store, space, [*FILLER, "Rehearsal moved to Thursday"])
        found = await recall_sql.postgres_candidates(
            store.inner, space, "rehearsal day", filter=None, pool=50, weights=Weights(0.0)
        )
        assert {item_id[0] for item_id in found.semantic} == {space}
        if plan == "exact":
            assert len(found.semantic) == len(FILLER) + 1
        else:  # approximate: HNSW may miss a vector, but not most of them (it found none)
            assert len(found.semantic) >= len(FILLER) - 1


# What earlier versions installed for recall, in the shape they had: a generated column
# made by a PL/pgSQL analyzer with its index, a change log fed by triggers on both of
# LangGraph's tables, and a GIN index on (prefix, to_tsvector(...)).
_EARLIER_SCHEMA = [
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    'CREATE INDEX memory_casts_store_content_idx ON store USING gin ((prefix COLLATE "C"), '
    "to_tsvector('english'::regconfig, coalesce(value->>'content', '')))",
    """CREATE FUNCTION memory_casts_terms(document text) RETURNS tsvector
       LANGUAGE plpgsql IMMUTABLE STRICT AS $f$ BEGIN
           RETURN to_tsvector('simple', document); END $f$""",
    "ALTER TABLE store ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS "
    "(memory_casts_terms(coalesce(value->>'content', ''))) STORED",
    "CREATE INDEX store_prefix_content_tsv_idx ON store USING gin (content_tsv)",
    "CREATE TABLE memory_casts_changes (prefix text, key text, xid xid8)",
    "CREATE TABLE memory_casts_changes_pruned (pruned_through xid8)",
    """CREATE FUNCTION memory_casts_changes_since(namespaces text[], since xid8[])
       RETURNS SETOF text LANGUAGE sql AS $f$ SELECT prefix FROM memory_casts_changes $f$""",
    """CREATE FUNCTION memory_casts_log_changes() RETURNS trigger LANGUAGE plpgsql AS $f$
       BEGIN INSERT INTO memory_casts_changes (prefix, key, xid)
             SELECT prefix, key, pg_current_xact_id() FROM changed_rows;
             RETURN NULL; END $f$""",
    *(
        f"CREATE TRIGGER memory_casts_log_changes_{event} AFTER {event.upper()} ON {table} "
        f"REFERENCING {'OLD' if event == 'delete' else 'NEW'} TABLE AS changed_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION memory_casts_log_changes()"
        for table in ("store", "store_vectors")
        for event in ("insert", "update", "delete")
    ),
]

_LEFTOVERS = """
SELECT (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relname IN ('store', 'store_vectors') AND NOT t.tgisinternal) AS triggers,
    (SELECT count(*) FROM pg_attribute WHERE attrelid = 'store'::regclass
        AND attname = 'content_tsv' AND NOT attisdropped) AS columns,
    (SELECT count(*) FROM pg_proc WHERE proname IN
        ('memory_casts_terms', 'memory_casts_log_changes', 'memory_casts_changes_since'))
        AS functions,
    (SELECT count(*) FROM pg_class WHERE relname LIKE 'memory_casts_changes%%'
        OR relname = 'memory_casts_store_content_idx') AS tables
"""


async def test_postgres_database_of_an_earlier_version_is_migrated_forward(
    fresh_database, tmp_path, unique
):
    settings = settings_for("postgres", fresh_database, tmp_path)
    space = namespaces.user_memories(unique("earlier"))
    async with open_store(settings) as store:
        await remember(store, space, [*FILLER, "Booked flights to Reykjavik"])
    async with await psycopg.AsyncConnection.connect(fresh_database, autocommit=True) as conn:
        await conn.execute(f"DROP INDEX {LEXICAL_INDEX}")
        for statement in _EARLIER_SCHEMA:
            await conn.execute(statement)
        await ensure_lexical_index(conn)
        cursor = await conn.execute(_LEFTOVERS)
        assert await cursor.fetchone() == (0, 0, 0, 0)
        cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (LEXICAL_INDEX,))
        assert (await cursor.fetchone())[0] is True
    async with open_store(settings) as store:
        await store.aput(space, "new", memory("Renewed my passport in Lagos"))
        assert (await recall(store, space, "Reykjavik flights", limit=1))[0].key == "m6"
        assert (await recall(store, space, "passport Lagos", limit=1))[0].key == "new"


async def test_postgres_adds_no_column_or_trigger_to_langgraph_tables(fresh_database, tmp_path):
    async with open_store(settings_for("postgres", fresh_database, tmp_path)):
        pass
    async with await psycopg.AsyncConnection.connect(fresh_database) as conn:
        cursor = await conn.execute(_LEFTOVERS)
        assert await cursor.fetchone() == (0, 0, 0, 0)
        cursor = await conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'store'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
        columns = [name for (name,) in await cursor.fetchall()]
    assert columns == [
        "prefix", "key", "value", "created_at", "updated_at", "expires_at", "ttl_minutes"
    ]  # fmt: skip


async def test_recall_over_every_namespace(store, unique):
    word = "zq" + uuid.uuid4().hex[:10]  # in no other test's memories
    first, second = unique("one"), unique("two")
    await remember(store, namespaces.user_memories(first), [*FILLER, f"Bought a {word} lamp"])
    await remember(store, namespaces.user_memories(second), [f"Returned the {word} lamp"])
    found = await recall(store, (), f"{word} lamp", limit=2)
    assert {(item.namespace, item.value["content"]) for item in found} == {
        (namespaces.user_memories(first), f"Bought a {word} lamp"),
        (namespaces.user_memories(second), f"Returned the {word} lamp"),
    }


async def test_rare_word_wins_among_hundreds_sharing_a_common_one(store, unique):
    # More memories hold "coffee" than PostgreSQL analyses; the one that also holds the rare
    # word still comes first, and repeating the common word does not beat it.
    space = namespaces.user_memories(unique("many"))
    contents = [f"Coffee with colleague number {i}" for i in range(400)]
    contents[123] = "Coffee coffee coffee, every single coffee morning"
    contents[321] = "Coffee with the zebra keeper at the zoo"
    await remember(store, space, contents)
    found = await hybrid_search(store, space, "coffee zebra", limit=3, weights=Weights(1.0))
    assert found[0].key == "m321"


def _sharing_index_key(base: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Two users' memory namespaces whose prefixes share the lexical index's short key."""
    seen: dict[str, tuple[str, ...]] = {}
    for i in itertools.count():
        space = namespaces.user_memories(f"{base}-{i}")
        key = hashlib.md5(".".join(space).encode()).hexdigest()[:8]
        if key in seen:
            return seen[key], space
        seen[key] = space
    raise AssertionError("unreachable")


async def test_postgres_namespaces_sharing_an_index_key_stay_apart(postgres_uri, tmp_path, unique):
    # The index pairs each term with a short hash of the namespace; two namespaces with the
    # same hash must still see only their own memories, with their own term statistics.
    mine, theirs = _sharing_index_key(unique("shared-key"))
    async with open_store(settings_for("postgres", postgres_uri, tmp_path)) as store:
        await remember(store, mine, [*FILLER, "The heron nests by the weir"])
        await remember(store, theirs, ["Heron spotted at the weir"] * 3)
        found = await hybrid_search(store, mine, "heron weir", limit=10, weights=Weights(1.0))
    assert {item.namespace for item in found} == {mine}
    assert found[0].value["content"] == "The heron nests by the weir"


@pytest.mark.parametrize("analyzed", [True, False])
async def test_postgres_large_namespace_size_is_estimated(
    analyzed, fresh_database, tmp_path, unique, monkeypatch
):
    # Above COUNTED_ITEMS a namespace's size comes from the table's statistics (or, without
    # them, from the count so far); recall still finds the best match either way.
    monkeypatch.setattr(recall_sql, "COUNTED_ITEMS", 2)
    async with open_store(settings_for("postgres", fresh_database, tmp_path)) as store:
        space = namespaces.user_memories(unique("estimated"))
        await remember(store, space, [*FILLER, "The kiln reaches temperature by noon"])
        if analyzed:
            async with await psycopg.AsyncConnection.connect(fresh_database) as conn:
                await conn.execute("ANALYZE store")
        found = await recall(store, space, "when is the kiln hot", limit=1)
    assert found[0].value["content"] == "The kiln reaches temperature by noon"
