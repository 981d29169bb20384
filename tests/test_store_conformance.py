"""One set of expectations, run on InMemoryStore and on real PostgreSQL with pgvector.

Where the raw backends differ, the project's store evens it out (range filters, created_at on
upsert, search order, non-JSON values, identical texts in one batch); TTL is the one
documented difference: InMemoryStore has none (session cleanup compensates).
"""

from __future__ import annotations

import asyncio

import pytest
from langgraph.store.base import InvalidNamespaceError as LangGraphNamespaceError
from langgraph.store.base import PutOp

from casts.memory import namespaces
from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError
from casts.memory.store.reading import asearch_all
from tests.expiry import ONE_SECOND_IN_MINUTES, sweep_until_gone


@pytest.fixture
def ns(unique):
    return namespaces.user_memories(unique("conf"))


async def test_put_get_update_delete(store, ns):
    assert await store.aget(ns, "missing") is None
    await store.aput(ns, "k", {"content": "first", "n": 1})
    item = await store.aget(ns, "k")
    assert (item.namespace, item.key, item.value) == (ns, "k", {"content": "first", "n": 1})
    await asyncio.sleep(0.01)
    await store.aput(ns, "k", {"content": "second", "n": 2})
    updated = await store.aget(ns, "k")
    assert updated.value["content"] == "second"
    assert updated.created_at == item.created_at  # kept on upsert, on every backend
    assert updated.updated_at > item.updated_at
    assert updated.created_at.tzinfo is not None
    await store.adelete(ns, "k")
    assert await store.aget(ns, "k") is None


async def test_exact_and_nested_filters(store, ns):
    await store.abatch(
        [
            PutOp(ns, "a", {"content": "x", "kind": "fact", "meta": {"lang": "en"}}),
            PutOp(ns, "b", {"content": "y", "kind": "event", "meta": {"lang": "fr"}}),
            PutOp(ns, "c", {"content": "z", "kind": "fact", "meta": {"lang": "fr"}}),
        ]
    )
    facts = await store.asearch(ns, filter={"kind": "fact"})
    assert sorted(i.key for i in facts) == ["a", "c"]
    french_facts = await store.asearch(ns, filter={"kind": "fact", "meta": {"lang": "fr"}})
    partial = await store.asearch(ns, filter={"meta": {}})
    assert partial == []  # nested objects match by equality, not containment
    assert [i.key for i in french_facts] == ["c"]
    not_facts = await store.asearch(ns, filter={"kind": {"$ne": "fact"}})
    assert [i.key for i in not_facts] == ["b"]


async def test_range_filters_compare_numbers_as_numbers(store, ns):
    """Raw PostgresStore compares as text ($gte 10 matches 9); raw InMemoryStore raises
    on a missing key. The project's store does neither."""
    await store.abatch(
        [PutOp(ns, f"n{n}", {"content": f"item {n}", "n": n}) for n in (2, 9, 10, 11, 100)]
        + [PutOp(ns, "none", {"content": "no number"}), PutOp(ns, "text", {"n": "12"})]
    )
    at_least_ten = await store.asearch(ns, filter={"n": {"$gte": 10}}, limit=50)
    assert sorted(i.key for i in at_least_ten) == ["n10", "n100", "n11"]
    between = await store.asearch(ns, filter={"n": {"$gt": 2, "$lt": 11}}, limit=50)
    assert sorted(i.key for i in between) == ["n10", "n9"]
    mixed = await store.asearch(ns, filter={"n": {"$gt": 2, "$ne": 10}}, limit=50)
    assert sorted(i.key for i in mixed) == ["n100", "n11", "n9"]
    paged = await store.asearch(ns, filter={"n": {"$gte": 0}}, limit=2, offset=1)
    assert len(paged) == 2


async def test_search_order_and_reading_everything(store, ns):
    """Thousands written in one batch share one ``updated_at`` on PostgreSQL: paging ``search``
    by offset over that order skipped some; ``asearch_all`` returns each exactly once."""
    batch = [f"k{n:04d}" for n in range(5000)]
    await store.abatch([PutOp(ns, key, {"content": key}, index=False) for key in batch])
    for n in range(3):
        await store.aput(ns, f"late{n}", {"content": f"late {n}"}, index=False)
    first = await store.asearch(ns)
    assert len(first) == 10  # the store's default limit: a whole namespace needs asearch_all
    assert [i.key for i in first[:3]] == ["late2", "late1", "late0"]  # newest-updated first
    (everything,) = await asearch_all(store, ns)
    keys = [i.key for i in everything]
    assert len(keys) == len(set(keys)) == 5003
    assert set(keys) == {*batch, "late0", "late1", "late2"}


async def test_list_namespaces(store, unique):
    user = unique("lister")
    root = namespaces.user_root(user)
    await store.aput(namespaces.user_memories(user), "m", {"content": "x"})
    await store.aput(namespaces.user_profile(user), "name", {"value": "A"})
    await store.aput(namespaces.user_knowledge(user, "go.lang"), "f", {"content": "y"})
    listed = await store.alist_namespaces(prefix=root)
    assert sorted(listed) == sorted(
        [
            namespaces.user_memories(user),
            namespaces.user_profile(user),
            namespaces.user_knowledge(user, "go.lang"),
        ]
    )
    shallow = await store.alist_namespaces(prefix=root, max_depth=3)
    assert sorted(shallow) == sorted(
        [namespaces.user_memories(user), namespaces.user_profile(user), (*root, "knowledge")]
    )
    assert len(await store.alist_namespaces(prefix=root, limit=1)) == 1
    assert await store.alist_namespaces(prefix=root, suffix=("memories",)) == [
        namespaces.user_memories(user)
    ]


async def test_identical_texts_in_one_batch(store, ns):
    await store.abatch(
        [
            PutOp(ns, "one", {"content": "the same sentence"}),
            PutOp(ns, "two", {"content": "the same sentence"}),
            PutOp(ns, "three", {"content": "something else entirely"}),
        ]
    )
    hits = await store.asearch(ns, query="the same sentence", limit=3)
    assert {i.key for i in hits[:2]} == {"one", "two"}
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)


async def test_semantic_search_ranks_by_similarity(store, ns):
    await store.abatch(
        [
            PutOp(ns, "tea", {"content": "Ada drinks green tea every morning"}),
            PutOp(ns, "bike", {"content": "Ada rides her bike to work"}),
            PutOp(ns, "nocontent", {"other": "not indexed"}),
        ]
    )
    hits = await store.asearch(ns, query="green tea morning", limit=3)
    assert hits[0].key == "tea"
    assert hits[0].score > hits[1].score


@pytest.mark.parametrize(
    "bad_value, field",
    [
        ({"content": float("nan")}, "value.content"),
        ({"content": "nul \x00 inside"}, "value.content"),
        ({"when": object()}, "value.when"),
        (["not", "a", "dict"], "value"),
    ],
)
async def test_non_json_values_are_refused_on_every_backend(store, ns, bad_value, field):
    with pytest.raises(InvalidValueError) as caught:
        await store.aput(ns, "bad", bad_value)
    assert caught.value.field == field
    assert await store.aget(ns, "bad") is None


async def test_a_bad_item_leaves_nothing_of_its_batch(store, ns):
    with pytest.raises(InvalidValueError) as caught:
        await store.abatch(
            [
                PutOp(ns, "good", {"content": "fine"}),
                PutOp(ns, "bad", {"content": float("inf")}),
            ]
        )
    assert caught.value.field == "ops[1].value.content"
    assert await store.asearch(ns) == []


@pytest.mark.parametrize("namespace", [("user", "a.b"), ("user", ""), ("langgraph", "x"), ()])
async def test_bad_namespaces_are_refused(store, namespace):
    # BaseStore.aput checks some labels itself and raises LangGraph's own error.
    with pytest.raises((InvalidNamespaceError, LangGraphNamespaceError)):
        await store.aput(namespace, "k", {"content": "x"})


async def test_bad_keys_are_refused(store, ns):
    with pytest.raises(InvalidValueError, match="key"):
        await store.aput(ns, "k" * 300, {"content": "x"})


async def test_ttl(store, ns, backend):
    if backend == "memory":
        # Documented difference: InMemoryStore has no TTL (session scratch cleans by age).
        assert store.supports_ttl is False
        with pytest.raises(NotImplementedError):
            await store.aput(ns, "t", {"content": "x"}, ttl=1)
        assert await store.aget(ns, "t") is None
        return
    assert store.supports_ttl is True
    await store.aput(ns, "short", {"content": "x"}, ttl=ONE_SECOND_IN_MINUTES)
    await store.aput(ns, "long", {"content": "y"}, ttl=60)
    await sweep_until_gone(store, ns, "short")
    assert (await store.aget(ns, "long")).value == {"content": "y"}


async def test_sync_api_works_from_a_worker_thread(store, ns):
    """Sync nodes run in worker threads while the event loop runs (as LangGraph runs them);
    the sync API must work there on both backends."""

    def sync_side() -> dict:
        store.put(ns, "sync", {"content": "from a thread"})
        return store.get(ns, "sync").value

    assert await asyncio.to_thread(sync_side) == {"content": "from a thread"}
    assert (await store.aget(ns, "sync")).value == {"content": "from a thread"}
