"""Concurrent use of the project's store, on InMemoryStore and on real PostgreSQL.

On PostgreSQL, searches refresh the TTLs of what they read (``refresh_on_read``): many of
them at once on one namespace update the same rows. The store must neither deadlock nor
surface the database's deadlock reports, and one bad call must not fail the calls it runs
next to.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest
from langgraph.store.base import InvalidNamespaceError as LangGraphInvalidNamespaceError
from langgraph.store.base import PutOp, SearchOp

from casts.memory import namespaces
from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError
from casts.memory.store.persistence import open_store
from tests.conftest import settings_for

SEARCHES = 400
WRITES = 100
ITEMS = 60


@pytest.fixture
def ns(unique):
    return namespaces.session_scratch(unique("conc"), "s1")


def ttl_of(backend: str) -> float | None:
    """A TTL where the backend has TTLs (PostgreSQL), so that reads refresh it."""
    return 60 if backend == "postgres" else None


async def seed(store, ns, backend: str) -> None:
    await store.abatch(
        [PutOp(ns, f"k{i:03d}", {"n": i}, ttl=ttl_of(backend)) for i in range(ITEMS)]
    )


def failures(results: list[Any]) -> list[BaseException]:
    return [result for result in results if isinstance(result, BaseException)]


async def test_concurrent_searches_and_writes_of_one_namespace_all_succeed(store, ns, backend):
    await seed(store, ns, backend)
    searches = [store.asearch(ns, limit=ITEMS) for _ in range(SEARCHES)]
    gets = [store.aget(ns, f"k{i % ITEMS:03d}") for i in range(WRITES)]
    writes = [store.aput(ns, f"w{i:03d}", {"n": i}, ttl=ttl_of(backend)) for i in range(WRITES)]
    results = await asyncio.gather(*searches, *gets, *writes, return_exceptions=True)

    assert failures(results) == []
    found = results[:SEARCHES]
    assert all(len(page) >= ITEMS for page in found)
    assert all(item is not None for item in results[SEARCHES : SEARCHES + WRITES])
    every = await store.asearch(ns, limit=ITEMS + WRITES + 10)
    assert {item.key for item in every} == {f"k{i:03d}" for i in range(ITEMS)} | {
        f"w{i:03d}" for i in range(WRITES)
    }


async def test_concurrent_read_batches_of_one_namespace_all_succeed(store, ns, backend):
    """Batches given to ``abatch`` run on connections of their own, at the same time."""
    await seed(store, ns, backend)
    ops = [SearchOp(ns, limit=ITEMS), SearchOp(ns, filter={"n": {"$gte": 10}}, limit=ITEMS)]
    results = await asyncio.gather(
        *(store.abatch(ops) for _ in range(SEARCHES)), return_exceptions=True
    )

    assert failures(results) == []
    assert all(len(everything) == ITEMS for everything, _ in results)
    assert all(len(ranged) == ITEMS - 10 for _, ranged in results)


async def test_a_bad_call_fails_alone_among_concurrent_calls(store, ns, backend):
    await seed(store, ns, backend)
    results = await asyncio.gather(
        store.asearch(ns, limit=ITEMS),
        store.asearch(ns, filter={"n": {"$near": 3}}),
        store.aput(ns, "bad", {"n": float("nan")}),
        store.asearch(ns, filter={"n": {"$gte": "ten"}}),
        store.aget(ns, "k001"),
        store.aput(ns, "good", {"n": 1}),
        return_exceptions=True,
    )

    everything, unknown_operator, nan, text_bound, one, written = results
    assert len(everything) == ITEMS
    assert isinstance(unknown_operator, InvalidValueError)
    assert unknown_operator.field == "filter.n.$near"
    assert isinstance(nan, InvalidValueError)
    assert nan.field == "value.n"
    assert isinstance(text_bound, InvalidValueError)
    assert text_bound.field == "filter.n.$gte"
    assert one.value == {"n": 1}
    assert written is None
    assert (await store.aget(ns, "good")).value == {"n": 1}
    assert await store.aget(ns, "bad") is None


@pytest.mark.parametrize(
    "namespace", [("user", "a.b", "memories"), ("langgraph", "x"), ("user", "")]
)
async def test_namespace_refusals_are_langgraphs_error_too(store, namespace):
    """Code written against LangGraph's stores catches the project's refusals.

    (``aget`` / ``asearch`` may refuse with LangGraph's own check before reaching ours.)
    """
    for ops in ([PutOp(namespace, "k", {"a": 1})], [SearchOp(namespace)]):
        with pytest.raises(LangGraphInvalidNamespaceError) as raised:
            await store.abatch(ops)
        assert isinstance(raised.value, InvalidNamespaceError)
    for call in (store.asearch(namespace), store.aget(namespace, "k")):
        with pytest.raises(LangGraphInvalidNamespaceError):
            await call


async def test_range_filter_is_exact_over_thousands_of_items_written_together(store, ns):
    """The items of one batch share ``updated_at``; none is skipped or returned twice."""
    total, low = 3000, 1000
    await store.abatch([PutOp(ns, f"k{i:05d}", {"n": i}) for i in range(total)])
    wanted = {f"k{i:05d}" for i in range(low, total)}

    found = await store.asearch(ns, filter={"n": {"$gte": low}}, limit=total)
    assert len(found) == len(wanted)
    assert {item.key for item in found} == wanted

    paged: list[str] = []
    for offset in range(0, total, 250):
        page = await store.asearch(ns, filter={"n": {"$gte": low}}, limit=250, offset=offset)
        paged += [item.key for item in page]
    assert len(paged) == len(wanted)
    assert set(paged) == wanted


async def test_stores_of_several_processes_searching_one_namespace_all_succeed(
    postgres_uri, tmp_path, unique
):
    """Eight servers of one database (a store each) refresh the same TTLs at the same time.

    Their transactions can deadlock in PostgreSQL; a search the database aborts is run again.
    """
    settings = settings_for("postgres", postgres_uri, tmp_path)
    ns = namespaces.session_scratch(unique("procs"), "s1")
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(open_store(settings)) for _ in range(8)]
        await seed(stores[0], ns, "postgres")

        async def searches(store) -> list[Any]:
            found: list[Any] = []
            for _ in range(3):
                found += await asyncio.gather(
                    *(store.asearch(ns, limit=ITEMS) for _ in range(10)), return_exceptions=True
                )
            return found

        results = [found for each in await asyncio.gather(*map(searches, stores)) for found in each]

    assert failures(results) == []
    assert all(len(page) == ITEMS for page in results)
