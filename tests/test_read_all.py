"""Reading a whole namespace returns every item exactly once, on both backends.

The sizes and the shared timestamps are where paging ``search`` by ``offset`` lost items on
PostgreSQL: thousands of items written by one statement share their ``updated_at``, the order
LangGraph pages by.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from langgraph.store.base import PutOp

from casts.memory import namespaces
from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError, StoreUnavailableError
from casts.memory.store.persistence import open_store
from casts.memory.store.reading import asearch_all, iter_items, newest_items
from tests.conftest import settings_for
from tests.restartable_postgres import EmbeddedPostgres

MANY = 5000


async def put_many(store, namespace, count: int = MANY, **extra) -> set[str]:
    """``count`` items in one batch (one statement on PostgreSQL: one shared timestamp)."""
    keys = [f"k{n:05d}" for n in range(count)]
    await store.abatch(
        [PutOp(namespace, key, {"n": n, **extra}, index=False) for n, key in enumerate(keys)]
    )
    return set(keys)


async def test_every_item_once_when_thousands_share_one_timestamp(store, unique):
    user = unique("many")
    memories, profile = namespaces.user_memories(user), namespaces.user_profile(user)
    keys = await put_many(store, memories)
    await store.aput(profile, "name", {"value": "Ada"})

    listed, fields = await asearch_all(store, memories, profile)
    assert len(listed) == MANY and {item.key for item in listed} == keys
    assert [item.key for item in fields] == ["name"]

    streamed = [item async for item in iter_items(store, namespaces.user_root(user))]
    assert len(streamed) == MANY + 1
    assert {(item.namespace, item.key) for item in streamed} == {
        *((memories, key) for key in keys),
        (profile, "name"),
    }


async def test_filters_over_thousands_sharing_one_timestamp(store, unique):
    namespace = namespaces.user_memories(unique("filtered"))
    await put_many(store, namespace)

    (at_least,) = await asearch_all(store, namespace, filter={"n": {"$gte": 4000}})
    assert sorted(item.value["n"] for item in at_least) == list(range(4000, MANY))
    (between,) = await asearch_all(store, namespace, filter={"n": {"$gt": 9, "$lt": 4990}})
    assert len(between) == 4980 and len({item.key for item in between}) == 4980
    (one,) = await asearch_all(store, namespace, filter={"n": 1234})
    assert [item.key for item in one] == ["k01234"]


async def test_a_read_is_a_snapshot_of_when_it_began(store, unique):
    namespace = namespaces.user_memories(unique("snapshot"))
    keys = await put_many(store, namespace, version=1)
    seen: dict[str, dict] = {}
    async for item in iter_items(store, namespace):
        if not seen:
            # Written while the read runs: every item updated, one deleted, one added.
            await store.abatch(
                [PutOp(namespace, key, {"n": -1, "version": 2}, index=False) for key in keys]
                + [
                    PutOp(namespace, "k00042", None),
                    PutOp(namespace, "new", {"n": -2, "version": 2}, index=False),
                ]
            )
        assert item.key not in seen
        seen[item.key] = item.value
    assert set(seen) == keys
    assert {value["version"] for value in seen.values()} == {1}
    (after,) = await asearch_all(store, namespace)
    assert len(after) == MANY and {item.value["version"] for item in after} == {2}


async def test_bad_prefix_or_filter_is_refused_naming_it(store, unique):
    namespace = namespaces.user_memories(unique("refused"))
    await store.aput(namespace, "k", {"n": 1})
    with pytest.raises(InvalidNamespaceError):
        await asearch_all(store, ("user", "a.b"))
    with pytest.raises(InvalidValueError) as caught:
        await asearch_all(store, namespace, filter=["not", "a", "dict"])
    assert caught.value.field == "filter"
    with pytest.raises(InvalidValueError) as caught:
        await asearch_all(store, namespace, filter={"n": {"$gte": "ten"}})
    assert caught.value.field == "filter.n.$gte"


async def expiry(uri: str, namespace, key: str):
    async with await psycopg.AsyncConnection.connect(uri) as conn:
        cursor = await conn.execute(
            "SELECT expires_at FROM store WHERE prefix = %s AND key = %s",
            (".".join(namespace), key),
        )
        (expires_at,) = await cursor.fetchone()
    return expires_at


async def test_a_listing_refreshes_ttls_like_search_and_an_export_does_not(
    fresh_database, tmp_path, unique
):
    """PostgreSQL only: InMemoryStore has no TTL (``test_store_conformance.test_ttl``)."""
    namespace = namespaces.user_profile(unique("ttl"))
    async with open_store(settings_for("postgres", fresh_database, tmp_path)) as store:
        await store.aput(namespace, "name", {"value": "Ada"}, ttl=60)
        await store.aput(namespace, "plain", {"value": "no ttl"})
        written = await expiry(fresh_database, namespace, "name")

        assert len([item async for item in iter_items(store, namespace)]) == 2
        assert await expiry(fresh_database, namespace, "name") == written

        (listed,) = await asearch_all(store, namespace)
        assert [item.key for item in listed] == ["name", "plain"]
        assert await expiry(fresh_database, namespace, "name") > written
        assert await expiry(fresh_database, namespace, "plain") is None


@pytest.fixture
def stoppable(embedded_data_dir) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of the test's own, which the test stops."""
    server = EmbeddedPostgres(embedded_data_dir)
    yield server
    if server.running():
        server.stop()


async def test_an_unavailable_database_is_a_clear_error(stoppable, tmp_path, unique):
    namespace = namespaces.user_memories(unique("down"))
    settings = settings_for("postgres", stoppable.uri, tmp_path, MEMORY_CONNECT_TIMEOUT="2")
    async with open_store(settings) as store:
        await store.aput(namespace, "k", {"content": "x"})
        stoppable.stop()
        with pytest.raises(StoreUnavailableError, match=r"unavailable.*nothing was read"):
            await asearch_all(store, namespace)
        with pytest.raises(StoreUnavailableError, match=r"unavailable.*nothing was read"):
            [item async for item in iter_items(store, namespace)]


async def test_newest_items_is_what_search_returns_for_each_prefix(store, unique):
    # One statement on PostgreSQL, one search per prefix elsewhere: both are the newest
    # ``limit`` items of the prefix and everything under it, and nothing of a sibling.
    user, other = unique("newest"), unique("sibling")
    profile, preferences = namespaces.user_profile(user), namespaces.user_preferences(user)
    for n in range(5):
        await store.aput(profile, f"field{n}", {"value": n})
    await store.aput((*profile, "nested"), "inside", {"value": "under the prefix"})
    await store.aput(preferences, "tone", {"value": "brief"})
    await store.aput(namespaces.user_profile(other), "name", {"value": "not mine"})
    found = await newest_items(store, [profile, preferences, namespaces.user_profile("nobody")], 4)
    assert [[item.key for item in items] for items in found] == [
        ["inside", "field4", "field3", "field2"],
        ["tone"],
        [],
    ]
    assert found[0][0].namespace == (*profile, "nested")
