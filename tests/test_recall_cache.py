"""Recall from the in-process copy of a namespace: same answers, never stale.

The copy (``casts.memory.recall_cache``) is PostgreSQL's: each test opens stores on a
database of its own. A second store on the same database stands for another process.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import psycopg
import pytest
from langgraph.store.base import GetOp, PutOp, SearchItem, SearchOp

from casts.memory import change_log, namespaces, recall_cache
from casts.memory.fusion import Weights
from casts.memory.ingest import put_many, puts
from casts.memory.lexical import bm25_scores, term_counts
from casts.memory.persistence import open_store
from casts.memory.recall import hybrid_search, recall
from casts.memory.recall_cache import RecallCache, namespace_read
from casts.memory.recall_index import IndexedItem, RecallIndex
from casts.memory.records import Memory
from tests.conftest import settings_for

WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "violin",
    "garden",
    "tiger",
    "harbor",
    "lantern",
    "meadow",
    "copper",
]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))


def memory(content: str) -> dict:
    return Memory(content=content).to_value()


def keys(found: list[SearchItem]) -> list[str]:
    return [item.key for item in found]


# --- the index alone ---------------------------------------------------------------------


def indexed(key: str, text: str, vector: list[float] | None, expires_at: float = math.inf):
    item = SearchItem(("n",), key, {"content": text}, None, None)  # type: ignore[arg-type]
    vectors = [np.array(vector, dtype=np.float32)] if vector is not None else []
    return IndexedItem(item, term_counts(text), vectors, expires_at)


def test_index_scores_as_python_bm25_and_cosine_through_replacements_and_compaction():
    rng = random.Random(4)
    index = RecallIndex()
    texts: dict[str, str] = {}
    vectors: dict[str, list[float]] = {}
    # 3,000 puts over 1,200 keys: replacements, then removals enough to compact.
    for step in range(3_000):
        key = f"k{rng.randrange(1_200)}"
        texts[key] = sentence(rng)
        vectors[key] = [rng.uniform(-1, 1) for _ in range(8)]
        index.put(indexed(key, texts[key], vectors[key]))
        if step % 3 == 0:
            gone = f"k{rng.randrange(1_200)}"
            index.remove((("n",), gone))
            texts.pop(gone, None)
            vectors.pop(gone, None)
    assert len(index) == len(texts)
    query = "violin harbor harbor copper"
    query_vector = [rng.uniform(-1, 1) for _ in range(8)]
    found = index.candidates(["violin", "harbor", "copper"], query_vector, pool=len(texts), now=0.0)

    order = sorted(texts)
    expected_lexical = dict(zip(order, bm25_scores(query, [texts[k] for k in order]), strict=True))
    got_lexical = {item_id[1]: score for item_id, score in found.lexical.items()}
    assert set(got_lexical) == {k for k, score in expected_lexical.items() if score > 0}
    for key, score in got_lexical.items():
        assert score == pytest.approx(expected_lexical[key], rel=1e-9)

    q = np.array(query_vector)
    for (_, key), score in found.semantic.items():
        v = np.array(vectors[key])
        expected = float(v @ q / np.linalg.norm(v) / np.linalg.norm(q))
        assert score == pytest.approx(expected, abs=1e-6)
    assert len(found.semantic) == len(texts)
    ranked = list(found.semantic.values())
    assert ranked == sorted(ranked, reverse=True)


def test_index_leaves_out_expired_items_and_ranks_ties_by_key():
    index = RecallIndex()
    index.put(indexed("b", "tiger stone", [1.0, 0.0]))
    index.put(indexed("a", "tiger stone", [1.0, 0.0]))
    index.put(indexed("c", "tiger stone", [1.0, 0.0], expires_at=100.0))
    before = index.candidates(["tiger"], [1.0, 0.0], pool=5, now=99.0)
    after = index.candidates(["tiger"], [1.0, 0.0], pool=5, now=100.0)
    assert [key for _, key in before.lexical] == ["a", "b", "c"]
    assert [key for _, key in after.lexical] == ["a", "b"]
    assert [key for _, key in after.semantic] == ["a", "b"]
    # The statistics leave the expired item out too: 2 documents, both holding the term.
    assert after.lexical[(("n",), "a")] == pytest.approx(
        bm25_scores("tiger", ["tiger stone", "tiger stone"])[0]
    )


# --- against PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def pg_settings(fresh_database: str, tmp_path: Path):
    return settings_for("postgres", fresh_database, tmp_path)


async def test_copy_answers_as_the_memory_backend(pg_settings, tmp_path: Path):
    rng = random.Random(9)
    space = namespaces.user_memories("copy-equals")
    items = [(f"m{i:03d}", memory(sentence(rng))) for i in range(300)]
    queries = [sentence(rng) for _ in range(20)]
    results = {}
    for backend, settings in (
        ("postgres", pg_settings),
        ("memory", settings_for("memory", None, tmp_path)),
    ):
        async with open_store(settings) as store:
            await put_many(store, puts(space, items), progress=False)
            results[backend] = [keys(await recall(store, space, q, limit=10)) for q in queries]
            if backend == "postgres":
                assert recall_cache.cache_for(store.inner).holds(space)
    assert results["postgres"] == results["memory"]


async def test_writes_by_another_process_are_seen_at_once(pg_settings):
    space = namespaces.user_memories("other-process")
    rng = random.Random(2)
    filler = [(f"f{i}", memory(sentence(rng))) for i in range(40)]
    async with open_store(pg_settings) as reader, open_store(pg_settings) as writer:
        await put_many(writer, puts(space, filler), progress=False)
        assert "zeppelin" not in str(await recall(reader, space, "zeppelin", limit=3))
        assert recall_cache.cache_for(reader.inner).holds(space)

        await writer.aput(space, "new", memory("We rode a zeppelin over the bay"))
        assert keys(await recall(reader, space, "zeppelin", limit=1)) == ["new"]

        await writer.aput(space, "new", memory("We sailed a catamaran over the bay"))
        (found,) = await recall(reader, space, "catamaran", limit=1)
        assert (found.key, found.value["content"]) == ("new", "We sailed a catamaran over the bay")
        copy = await recall_cache.cache_for(reader.inner).candidates(
            reader.inner, space, "zeppelin", pool=50, weights=Weights()
        )
        assert copy is not None and not copy.lexical  # the old words are gone

        await writer.adelete(space, "new")
        assert "new" not in keys(await recall(reader, space, "catamaran bay", limit=40))


async def test_a_transaction_still_running_when_the_copy_caught_up_is_not_missed(
    pg_settings, fresh_database: str
):
    """Its id is below later transactions': a watermark of the newest id seen would skip it."""
    space = namespaces.user_memories("in-flight")
    prefix = ".".join(space)
    async with open_store(pg_settings) as reader, open_store(pg_settings) as writer:
        await put_many(writer, puts(space, [("a", memory("plain words"))]), progress=False)
        await recall(reader, space, "words", limit=1)
        with psycopg.connect(fresh_database) as slow:
            slow.execute(
                "INSERT INTO store (prefix, key, value) VALUES (%s, 'late', %s::jsonb)",
                (prefix, '{"content": "an albatross landed", "kind": "fact"}'),
            )
            # A later transaction commits first, and the copy catches up past it.
            await writer.aput(space, "b", memory("more plain words"))
            assert sorted(keys(await recall(reader, space, "plain", limit=3))) == ["a", "b"]
            slow.commit()
        assert keys(await recall(reader, space, "albatross", limit=1)) == ["late"]


async def test_bulk_changes_and_pruned_log_make_the_copy_reload(pg_settings, fresh_database):
    space = namespaces.user_memories("bulk")
    prefix = ".".join(space)
    async with open_store(pg_settings) as store:
        await put_many(store, puts(space, [("a", memory("first words"))]), progress=False)
        await recall(store, space, "words", limit=1)
        with psycopg.connect(fresh_database, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO store (prefix, key, value) SELECT %s, 'bulk' || i, "
                "jsonb_build_object('content', 'bulk words ' || i) "
                "FROM generate_series(1, %s) i",
                (prefix, change_log.BULK_ROWS + 1),
            )
            logged = conn.execute(
                "SELECT count(*) FILTER (WHERE key IS NULL), "
                "array_agg(DISTINCT key) FILTER (WHERE key IS NOT NULL) "
                f"FROM {change_log.CHANGES_TABLE} WHERE prefix = %s",
                (prefix,),
            ).fetchone()
            assert logged == (1, ["a"])  # the first put's key, then the namespace as a whole
        found = await recall(store, space, "bulk 77", limit=1)
        assert found and found[0].key == "bulk77"

        with psycopg.connect(fresh_database, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO store (prefix, key, value) VALUES (%s, 'pruned', %s::jsonb)",
                (prefix, '{"content": "a narwhal surfaced"}'),
            )
            conn.execute(
                f"UPDATE {change_log.CHANGES_TABLE} SET changed_at = now() - interval '2 hours'"
            )
            conn.execute(change_log.PRUNE, {"retention": change_log.RETENTION})
            assert not conn.execute(f"SELECT count(*) FROM {change_log.CHANGES_TABLE}").fetchone()[
                0
            ]
        assert keys(await recall(store, space, "narwhal", limit=1)) == ["pruned"]


async def test_re_embedding_alone_is_seen(pg_settings, fresh_database):
    """``store_vectors`` is logged too: re-embedding changes no ``store`` row."""
    space = namespaces.user_memories("re-embed")
    prefix = ".".join(space)
    async with open_store(pg_settings) as store:
        await put_many(
            store, puts(space, [(k, memory(f"note {k}")) for k in "abc"]), progress=False
        )
        semantic_only = Weights(lexical=0.0)
        query_vector = await store.inner.embeddings.aembed_query("lighthouse keeper")
        with psycopg.connect(fresh_database, autocommit=True) as conn:
            before = await hybrid_search(
                store, space, "lighthouse keeper", limit=1, weights=semantic_only
            )
            target = next(k for k in "abc" if k != before[0].key)
            conn.execute(
                "UPDATE store_vectors SET embedding = %s::vector WHERE prefix = %s AND key = %s",
                (str(query_vector), prefix, target),
            )
        after = await hybrid_search(
            store, space, "lighthouse keeper", limit=1, weights=semantic_only
        )
        assert after[0].key == target


async def test_filters_large_namespaces_and_the_budget(pg_settings, fresh_database, tmp_path):
    small, large, other = (namespaces.user_memories(name) for name in ("s", "l", "o"))
    async with open_store(pg_settings) as store:
        cache = RecallCache(max_items=10, namespace_limit=6)
        recall_cache.attach(store.inner, cache)
        for space, count in ((small, 5), (large, 7), (other, 6)):
            await put_many(
                store,
                puts(space, [(f"k{i}", memory(f"tiger {i}")) for i in range(count)]),
                progress=False,
            )
        await recall(store, small, "tiger", limit=2, filter={"kind": "fact"})
        assert not cache.holds(small)  # a filter is applied in SQL
        assert len(await recall(store, small, "tiger", limit=10)) == 5
        assert cache.holds(small)
        assert len(await recall(store, large, "tiger", limit=10)) == 7
        assert not cache.holds(large)  # more than namespace_limit
        assert len(await recall(store, other, "tiger", limit=10)) == 6
        assert cache.holds(other) and not cache.holds(small)  # 5 + 6 > max_items

    off = settings_for("postgres", fresh_database, tmp_path, MEMORY_RECALL_CACHE_ITEMS="0")
    async with open_store(off) as store:
        assert len(await recall(store, small, "tiger", limit=10)) == 5
        assert not recall_cache.cache_for(store.inner).holds(small)


async def test_writes_log_their_keys(pg_settings, fresh_database):
    space = namespaces.user_memories("logged")
    async with open_store(pg_settings) as store:
        await store.abatch([PutOp(space, "a", memory("x")), PutOp(space, "b", memory("y"))])
        await store.adelete(space, "a")
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute(
            f"SELECT key FROM {change_log.CHANGES_TABLE} WHERE prefix = %s",
            (".".join(space),),
        ).fetchall()
    assert Counter(key for (key,) in rows)["a"] >= 2  # put, then delete
    assert "b" in {key for (key,) in rows}


# --- a turn's reads ------------------------------------------------------------------------


async def test_reads_from_copies_equal_the_store_and_take_one_statement(pg_settings, monkeypatch):
    user, team = "reader", "crew"
    profile, prefs = namespaces.user_profile(user), namespaces.user_preferences(user)
    members, workspace = namespaces.team_members(team), namespaces.team_workspace(team)
    mems = namespaces.user_memories(user)
    ops = [
        SearchOp(profile, limit=100),
        SearchOp(prefs, limit=2, offset=1),
        GetOp(members, user),
        GetOp(members, "nobody"),
        SearchOp(workspace, limit=100),
    ]
    statements: list[str] = []
    original = psycopg.AsyncCursor.execute

    async def counted(cursor, query, *args, **kwargs):
        statements.append(str(query))
        return await original(cursor, query, *args, **kwargs)

    async with open_store(pg_settings) as store, open_store(pg_settings) as writer:
        # One write each: distinct updated_at, so "newest first" is one order.
        for op in (
            [PutOp(profile, f"f{i}", {"value": i}) for i in range(5)]
            + [PutOp(prefs, f"p{i}", {"value": i}) for i in range(4)]
            + [PutOp(members, user, {"role": "member"}), PutOp(workspace, "plan", {"v": 1})]
            + [PutOp(mems, "m", memory("the crew sails at dawn"))]
        ):
            await writer.abatch([op])
        for turn in range(3):
            if turn == 2:  # another process writes between turns
                await writer.aput(profile, "f9", {"value": "new"})
                await writer.adelete(prefs, "p0")
            expected = await store.abatch(ops)
            statements.clear()
            monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted)
            async with recall_cache.reading(store, [*map(namespace_read, ops), mems]) as reads:
                assert reads is not None
                got = [reads.run(op) for op in ops]
                recalled = await recall(store, mems, "dawn", limit=1)
            monkeypatch.setattr(psycopg.AsyncCursor, "execute", original)
            assert [_plain(result) for result in got] == [_plain(result) for result in expected]
            assert keys(recalled) == ["m"]
            if turn:  # the copies exist: one statement catches all five namespaces up
                # ("" is the pool's check of the connection it hands out)
                assert [sql for sql in statements if sql] == [statements[-1]], statements


def _plain(result):
    if isinstance(result, list):
        return [(item.namespace, item.key, item.value, item.updated_at) for item in result]
    if result is None:
        return None
    return (result.namespace, result.key, result.value, result.updated_at)


async def test_reads_fall_back_to_the_store_where_copies_do_not_apply(pg_settings, tmp_path: Path):
    memory_settings = settings_for("memory", None, tmp_path)
    profile = namespaces.user_profile("x")
    async with (
        open_store(memory_settings) as store,
        recall_cache.reading(store, [profile]) as reads,
    ):
        assert reads is None
    async with open_store(pg_settings) as store:
        recall_cache.attach(store.inner, RecallCache(max_items=10, namespace_limit=2))
        big = namespaces.user_profile("big")
        await store.abatch([PutOp(big, f"f{i}", {"value": i}) for i in range(3)])
        async with recall_cache.reading(store, [big]) as reads:
            assert reads is None


async def test_catching_up_reads_each_changed_item_by_its_key(pg_settings, fresh_database):
    """The plan of the catch-up function looks changed items up by ``store``'s primary key
    (comparing the log's "C" prefix to ``store``'s made it scan the namespace per item)."""
    space = namespaces.user_memories("by-key")
    prefix = ".".join(space)
    async with open_store(pg_settings):
        pass  # migrated
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(  # others' items, enough that a scan would cost more than the key
            "INSERT INTO store (prefix, key, value) SELECT 'user.other' || (i % 100), "
            "'k' || i, '{}' FROM generate_series(1, 20000) i"
        )
        conn.execute(
            "INSERT INTO store (prefix, key, value) SELECT %s, 'k' || i, '{}' "
            "FROM generate_series(1, 50) i",
            (prefix,),
        )
        conn.execute("ANALYZE store")
        plans: list[str] = []
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET client_min_messages = log",
        ):
            conn.execute(setting)
        sql, params = change_log.changes_query([(space, 0)])
        rows = conn.execute(sql, params).fetchall()
    assert len(rows) == 50
    (plan,) = [plan for plan in plans if "FROM store s" in plan and "Index" in plan]
    # Both key columns in the index condition (a skip scan on the key alone is no lookup).
    assert re.search(r"store_pkey on store s .*\n\s+Index Cond: \(\(prefix = ", plan), plan
