"""Item 4: concurrent profile updates of different fields, on PostgreSQL; store throughput.

Each round, 100 runs start at once, each on its own thread_id, each setting a different field
of the same user's profile:

- ``ours``: the ``user_profile`` cast (one item per field), AsyncPostgresSaver + our store;
- ``stock``: the design note's node: ``aget`` the one profile document, change one field,
  ``aput`` the document back -- same checkpointer, same store.

Lost updates = fields requested - fields present afterwards.

Store throughput (``store_calls``): each round, ``calls`` coroutines call the store at once,
4 in 5 an ``asearch`` (TTL refresh on, each of another namespace of 20 items with a TTL),
1 in 5 an ``aput`` with a TTL; ``ours`` is the project's ``GuardedStore``, ``stock`` the
``AsyncPostgresStore`` inside it (same pool), rounds interleaved. Throughput = calls / wall
time of the round; the ratio is ours / stock of the median rounds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from common import arguments, emit, postgres, settings_for
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore, PutOp
from typing_extensions import TypedDict

from casts.memory.core.context import MemoryContext
from casts.memory.kinds.profiles import read_profile
from casts.memory.store.persistence import open_checkpointer, open_store
from casts.user_profile.graph import UserProfileGraph


class StockState(TypedDict, total=False):
    set_fields: dict[str, Any]


def stock_graph(store: Any, checkpointer: Any) -> Any:
    """The design note's get-modify-put of one profile document."""

    async def update(state: StockState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        namespace = ("stock_profiles", runtime.context.user_id)
        doc = await store.aget(namespace, "profile")
        profile = dict(doc.value) if doc else {}
        profile.update(state.get("set_fields") or {})
        await store.aput(namespace, "profile", profile)
        return {}

    builder = StateGraph(StockState, context_schema=MemoryContext)
    builder.add_node("update", update)
    builder.add_edge(START, "update")
    builder.add_edge("update", END)
    return builder.compile(checkpointer=checkpointer, store=store)


async def store_calls(store: Any, rounds: int, calls: int) -> dict[str, Any]:
    """Concurrent ``asearch`` / ``aput`` through ours and through the stock store."""
    searches = calls * 4 // 5
    spaces = [("session", f"bench-calls-{i:04d}", "s", "scratch") for i in range(searches)]
    for start in range(0, searches, 50):
        await store.inner.abatch(
            [
                PutOp(ns, f"k{k:02d}", {"n": k}, ttl=60)
                for ns in spaces[start : start + 50]
                for k in range(20)
            ]
        )
    stores: dict[str, BaseStore] = {"ours": store, "stock": store.inner}
    rates: dict[str, list[float]] = {"ours": [], "stock": []}
    for round_no in range(rounds):
        for name in ["ours", "stock"] if round_no % 2 == 0 else ["stock", "ours"]:
            target = stores[name]
            written = ("session", f"bench-calls-{name}-{round_no}", "s", "scratch")
            work = [target.asearch(ns, limit=20) for ns in spaces] + [
                target.aput(written, f"w{i:04d}", {"n": i}, ttl=60) for i in range(calls - searches)
            ]
            started = time.perf_counter()
            await asyncio.gather(*work)
            rates[name].append(calls / (time.perf_counter() - started))
    median = {name: sorted(r)[len(r) // 2] for name, r in rates.items()}
    ratio = round(median["ours"] / median["stock"], 2)
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "ours_calls_per_s": round(median["ours"]),
        "stock_calls_per_s": round(median["stock"]),
        "ours_over_stock": ratio,
        "target": ">= 0.8x stock",
        "meets_target": ratio >= 0.8,
    }


async def main() -> None:
    args = arguments()
    updates = 100
    rounds = 2 if args.quick else 5
    out: dict[str, Any] = {
        "benchmark": "concurrency",
        "quick": args.quick,
        "scale": {"concurrent_updates": updates, "rounds": rounds},
    }
    lost: dict[str, list[int]] = {"ours": [], "stock": []}
    wall: dict[str, list[float]] = {"ours": [], "stock": []}
    with postgres(args.data_dir) as (uri, _):
        settings = settings_for(uri, embeddings="none")
        async with open_store(settings) as store, open_checkpointer(settings) as saver:
            ours = UserProfileGraph().build(store=store, checkpointer=saver)
            stock = stock_graph(store.inner, saver)
            for round_no in range(rounds):
                for name in ["ours", "stock"] if round_no % 2 == 0 else ["stock", "ours"]:
                    user = f"bench-conc-{name}-{round_no}"
                    graph = ours if name == "ours" else stock
                    context = MemoryContext(user_id=user)

                    async def one(
                        i: int,
                        graph: Any = graph,
                        user: str = user,
                        context: MemoryContext = context,
                    ) -> None:
                        await graph.ainvoke(
                            {"set_fields": {f"field_{i:03d}": i}},
                            {"configurable": {"thread_id": f"{user}-t{i}"}},
                            context=context,
                        )

                    started = time.perf_counter()
                    await asyncio.gather(*(one(i) for i in range(updates)))
                    wall[name].append(time.perf_counter() - started)
                    if name == "ours":
                        present = len((await read_profile(store, user)).fields)
                    else:
                        doc = await store.inner.aget(("stock_profiles", user), "profile")
                        present = len(doc.value) if doc else 0
                    lost[name].append(updates - present)
            out["store_calls"] = await store_calls(store, 3 if args.quick else 10, 500)
    for name in lost:
        out[name] = {
            "lost_per_round": lost[name],
            "lost_total": sum(lost[name]),
            "updates_total": updates * rounds,
            "median_round_s": round(sorted(wall[name])[len(wall[name]) // 2], 3),
        }
    out["target"] = "ours loses 0; stock loses some"
    out["meets_target"] = out["ours"]["lost_total"] == 0 and out["stock"]["lost_total"] > 0
    emit(out)


if __name__ == "__main__":
    asyncio.run(main())
