"""Item 1: per-turn memory overhead of the memory agent.

Three graphs answer the same turns with the same scripted fake model (no network):

- ``plain``: START -> model -> END, no store (the baseline);
- ``ours``: ``MemoryAgentGraph`` (LoadMemoryContext: one read of profile and preferences,
  ``casts.memory.newest_items``, concurrently with hybrid recall of the 5 memories most relevant
  to the turn; on PostgreSQL one SQL statement each, ``casts.memory.recall.sql``);
- ``stock``: the design note's node: ``aget`` the profile document, ``asearch(query=...)`` the
  memories, ``aget`` the preferences document, one after another, on the raw store.

Embeddings are ``HashEmbeddings(64)`` (deterministic, no model). Run on InMemoryStore and on
PostgreSQL holding the measured user's memories among many other users' (see common.py for
how the data is made). Turns are interleaved (plain, ours, stock, plain, ...).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

from common import (
    DIMS,
    ROOT,
    USER_10K,
    RoundTrips,
    arguments,
    dataset,
    emit,
    ensure_dataset,
    memory_value,
    postgres,
    query_text,
    sentence,
    settings_for,
    summary_ms,
)
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.store.base import PutOp

from casts.memory import memories, namespaces, newest_items
from casts.memory.core.context import MemoryContext
from casts.memory.core.identity import Identity
from casts.memory.settings import Settings
from casts.memory.store.persistence import open_store
from casts.memory.store.transfer import put_many
from casts.memory_agent.graph import MemoryAgentGraph
from casts.memory_agent.nodes import load_known
from tests.fake_models import ScriptedChatModel

USER = USER_10K
STOCK_NS = ("stock", USER)


def fake_model() -> ScriptedChatModel:
    return ScriptedChatModel(messages=itertools.cycle([AIMessage("Noted.")]))


def plain_graph() -> Any:
    model = fake_model()

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", call_model)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    return builder.compile()


def stock_graph(store: Any, found_counts: list[int]) -> Any:
    """The design note's way: get profile, search memories, get preferences, in sequence."""
    model = fake_model()

    async def load(state: MessagesState) -> dict[str, Any]:
        query = state["messages"][-1].content
        profile = await store.aget(STOCK_NS, "profile")
        found = await store.asearch((*STOCK_NS, "memories"), query=query, limit=5)
        found_counts.append(len(found))
        prefs = await store.aget(STOCK_NS, "preferences")
        prompt = (
            f"Profile: {profile.value if profile else {}}\n"
            f"Preferences: {prefs.value if prefs else {}}\n"
            "Memories:\n" + "\n".join(f"- {item.value.get('content')}" for item in found)
        )
        return {"messages": [SystemMessage(prompt, id="memory-prompt")]}

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("load", load)
    builder.add_node("agent", call_model)
    builder.add_edge(START, "load")
    builder.add_edge("load", "agent")
    builder.add_edge("agent", END)
    return builder.compile(store=store)


def profile_ops() -> list[PutOp]:
    """Profile and preferences in both layouts (ours: item per field; stock: one document)."""
    fields = {f"field_{i}": f"value {i}" for i in range(10)} | {"name": "Ada"}
    prefs = {f"pref_{i}": i for i in range(5)}
    ops = [PutOp(namespaces.user_profile(USER), k, {"value": v}) for k, v in fields.items()]
    ops += [PutOp(namespaces.user_preferences(USER), k, {"value": v}) for k, v in prefs.items()]
    ops += [PutOp(STOCK_NS, "profile", fields), PutOp(STOCK_NS, "preferences", prefs)]
    return ops


async def alias_stock_memories(uri: str) -> None:
    """The stock graph searches ("stock", user, "memories"): the same rows and vectors."""
    import psycopg

    source = ".".join(namespaces.user_memories(USER))
    target = ".".join((*STOCK_NS, "memories"))
    async with await psycopg.AsyncConnection.connect(uri, autocommit=True) as conn:
        done = await (
            await conn.execute("SELECT count(*) FROM store WHERE prefix = %s", (target,))
        ).fetchone()
        if done[0]:
            return
        await conn.execute(
            "INSERT INTO store (prefix, key, value, created_at, updated_at) "
            "SELECT %s, key, value, created_at, updated_at FROM store WHERE prefix = %s",
            (target, source),
        )
        await conn.execute(
            "INSERT INTO store_vectors (prefix, key, field_name, embedding) "
            "SELECT %s, key, field_name, embedding FROM store_vectors WHERE prefix = %s",
            (target, source),
        )
        await conn.execute("ANALYZE store")
        await conn.execute("ANALYZE store_vectors")


async def components(store: Any, rng: random.Random, reps: int) -> dict[str, Any]:
    """Where ours spends the turn: the profile read, recall, and both as the node runs them.

    Also recall right after a write to the user's memories.
    """
    identity = Identity(user_id=USER)
    personal = [namespaces.user_profile(USER), namespaces.user_preferences(USER)]
    names = ["batch", "recall", "load_known", "recall_after_write"]
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        query = query_text(rng)
        for name in names:
            if name == "recall_after_write":
                key = f"bench-write-{rep:04d}"
                await store.aput(namespaces.user_memories(USER), key, memory_value(query, "w"))
            started = time.perf_counter()
            if name == "batch":
                await newest_items(store, personal, 100)
            elif name == "load_known":
                await load_known(store, identity, query)
            else:
                await memories.recall_memories(store, USER, query, 5)
            times[name].append(time.perf_counter() - started)
    await store.abatch(
        [
            PutOp(namespaces.user_memories(USER), f"bench-write-{rep:04d}", None)
            for rep in range(reps)
        ]
    )
    return {name: summary_ms(values) for name, values in times.items()}


async def measure(
    store: Any, turns: int, warmup: int, recorder: RoundTrips | None
) -> dict[str, Any]:
    stock_found: list[int] = []
    graphs = {
        "plain": plain_graph(),
        "ours": MemoryAgentGraph(model=fake_model()).build(store=store),
        "stock": stock_graph(getattr(store, "inner", store), stock_found),
    }
    context = MemoryContext(user_id=USER)
    rng = random.Random(11)
    times: dict[str, list[float]] = {name: [] for name in graphs}
    trips: dict[str, list[tuple[int, int, int]]] = {name: [] for name in graphs}
    for turn in range(warmup + turns):
        query = query_text(rng)
        order = list(graphs)
        rng.shuffle(order)
        for name in order:
            graph = graphs[name]
            payload = {"messages": [HumanMessage(query)]}
            started = time.perf_counter()
            if recorder is not None:
                with recorder.recording() as spans:
                    out = await graph.ainvoke(payload, context=context)
            else:
                out = await graph.ainvoke(payload, context=context)
            elapsed = time.perf_counter() - started
            assert out["messages"][-1].content == "Noted."
            if turn >= warmup:
                times[name].append(elapsed)
                if recorder is not None:
                    trips[name].append(
                        (
                            RoundTrips.sequential(spans),
                            RoundTrips.statements(spans),
                            RoundTrips.checkouts(spans),
                        )
                    )
    result: dict[str, Any] = {name: summary_ms(values) for name, values in times.items()}
    # A filtered HNSW scan (PostgreSQL) may return fewer than the 5 memories asked for.
    result["stock"]["turns_with_fewer_than_5_memories"] = sum(
        1 for n in stock_found[warmup:] if n < 5
    )
    result["ours_components"] = await components(store, rng, max(20, turns // 3))
    for name in ("ours", "stock"):
        result[f"{name}_added_p50_ms"] = round(
            result[name]["p50_ms"] - result["plain"]["p50_ms"], 3
        )
        result[f"{name}_added_p95_ms"] = round(
            result[name]["p95_ms"] - result["plain"]["p95_ms"], 3
        )
        if recorder is not None and trips[name]:
            seq, stmts, checks = zip(*trips[name], strict=True)
            result[name]["sequential_round_trips_per_turn"] = sorted(seq)[len(seq) // 2]
            result[name]["sql_statements_per_turn"] = sorted(stmts)[len(stmts) // 2]
            result[name]["pool_checkouts_per_turn"] = sorted(checks)[len(checks) // 2]
    return result


async def main() -> None:
    """Each backend measured in a process of its own, as a deployment runs one.

    In one process the PostgreSQL turns ran ~1 ms slower after the InMemoryStore phase
    (its 60k items and their cached analyses stay in the process), which says nothing about
    either backend.
    """
    args = arguments()
    data = dataset(args.quick)
    scale = {
        "postgres_other_users": data["others"],
        "postgres_items_per_other_user": data["per_other"],
        "measured": data["measured"][USER],
        "postgres_total_items": data["others"] * data["per_other"] + sum(data["measured"].values()),
        "turns": 40 if args.quick else 300,
        "memory_others": 2_000 if args.quick else 50_000,
    }
    phase = os.environ.get(_PHASE)
    if phase == "inmemory":
        emit(await inmemory_phase(scale))
        return
    if phase == "postgres":
        emit(await postgres_phase(args.data_dir, data, scale))
        return
    out: dict[str, Any] = {"benchmark": "turn_overhead", "quick": args.quick, "scale": scale}
    for name in ("inmemory", "postgres"):
        done = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:]],
            env={**os.environ, _PHASE: name},
            stdout=subprocess.PIPE,  # the phase's JSON; its log goes to stderr as it runs
            text=True,
            check=True,
        )
        out.update(json.loads(done.stdout))
    out["target"] = "ours adds <= 12 ms p50 on PostgreSQL"
    emit(out)


async def inmemory_phase(scale: dict[str, Any]) -> dict[str, Any]:
    """The measured user's memories plus other users', written through put_many."""
    settings = Settings(
        backend="memory",
        postgres_uri=None,
        data_dir=ROOT_DATA,
        embeddings="hash",
        embedding_dims=DIMS,
    )
    async with open_store(settings) as store:
        rng = random.Random("bench:" + USER)
        ops = [
            PutOp(namespaces.user_memories(USER), f"mem-{i:07d}", memory_value(sentence(rng), "x"))
            for i in range(scale["measured"])
        ]
        ops += [PutOp((*STOCK_NS, "memories"), op.key, op.value) for op in ops]
        other = random.Random(3)
        ops += [
            PutOp(
                namespaces.user_memories(f"bench-other-{i % 100:04d}"),
                f"m{i}",
                memory_value(sentence(other), "x"),
            )
            for i in range(scale["memory_others"])
        ]
        await put_many(store, ops + profile_ops(), progress=False)
        return {"inmemory": await measure(store, scale["turns"], WARMUP, None)}


async def postgres_phase(
    data_dir: str | None, data: dict[str, Any], scale: dict[str, Any]
) -> dict[str, Any]:
    """The shared dataset (see common.py), the stock graph reading aliased rows."""
    with postgres(data_dir) as (uri, _):
        setup = await ensure_dataset(uri, **data)
        await alias_stock_memories(uri)
        recorder = RoundTrips()
        async with open_store(settings_for(uri)) as store:
            await store.abatch(profile_ops())
            recorder.install()
            try:
                return {
                    "setup": setup,
                    "postgres": await measure(store, scale["turns"], WARMUP, recorder),
                }
            finally:
                recorder.uninstall()


_PHASE = "TURN_OVERHEAD_PHASE"
WARMUP = 5
ROOT_DATA = ROOT / ".data"

if __name__ == "__main__":
    asyncio.run(main())
