"""Item 5: the memory agent's per-turn memory read with traffic spread over many users.

400 users with 400 memories each (hash embeddings, see common.py) on PostgreSQL, plus each
user's profile and preferences in both layouts. 800 turns, each for a user chosen at
random -- uniformly, or Zipf(1.0)-skewed (a few users get most turns) -- read what the
turn needs in one of two ways:

- ``ours``: ``casts.memory_agent.nodes.load_known`` (profile and preferences in one batch,
  concurrently with hybrid recall of the 5 most relevant memories);
- ``stock``: the design note's sequential ``aget`` profile, ``asearch(query=...)`` the
  memories, ``aget`` preferences on the raw AsyncPostgresStore, over the same memories.

Each mix runs in a fresh process, so nothing a process may keep in memory carries over
from the other; a few untimed turns only open the pool. Within it each turn is read both
ways, in random order, so both see the same users and queries and the same load on the
machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

from common import (
    arguments,
    emit,
    ensure_dataset,
    postgres,
    query_text,
    settings_for,
    summary_ms,
)
from langgraph.store.base import PutOp

from casts.memory import namespaces
from casts.memory.core.identity import Identity
from casts.memory.store.persistence import open_store
from casts.memory_agent.nodes import load_known

_PHASE = "MANY_USERS_PHASE"
WARMUP = 3
TARGET_MEAN_MS, TARGET_P95_MS = 5.0, 10.0


def scale(quick: bool) -> dict[str, int]:
    if quick:
        return {"users": 40, "memories_per_user": 100, "turns": 100}
    return {"users": 400, "memories_per_user": 400, "turns": 800}


def user(i: int) -> str:
    return f"bench-many-{i:04d}"


def turns(mix: str, size: dict[str, int]) -> list[tuple[str, str]]:
    """(user, query) of every turn: the same for both ways of a mix."""
    rng = random.Random(f"many-users:{mix}")
    users = [user(i) for i in range(size["users"])]
    rng.shuffle(users)  # which users are popular under Zipf: not the first ids
    weights = [1.0 / rank for rank in range(1, len(users) + 1)] if mix == "zipf" else None
    chosen = rng.choices(users, weights=weights, k=WARMUP + size["turns"])
    return [(name, query_text(rng)) for name in chosen]


def profile_ops(name: str) -> list[PutOp]:
    """Profile and preferences in both layouts (ours: item per field; stock: one document)."""
    fields = {f"field_{i}": f"value {i}" for i in range(10)} | {"name": name}
    prefs = {f"pref_{i}": i for i in range(5)}
    ops = [PutOp(namespaces.user_profile(name), k, {"value": v}) for k, v in fields.items()]
    ops += [PutOp(namespaces.user_preferences(name), k, {"value": v}) for k, v in prefs.items()]
    stock = ("stock", name)
    return [*ops, PutOp(stock, "profile", fields), PutOp(stock, "preferences", prefs)]


async def read(store: Any, way: str, name: str, query: str) -> int:
    """One turn's memory read, one way; how many memories it found."""
    if way == "ours":
        known = await load_known(store, Identity(user_id=name), query)
        return len(known["memories"])
    raw = store.inner
    await raw.aget(("stock", name), "profile")
    found = await raw.asearch(namespaces.user_memories(name), query=query, limit=5)
    await raw.aget(("stock", name), "preferences")
    return len(found)


async def phase(uri: str, mix: str, size: dict[str, int]) -> dict[str, Any]:
    """Both ways over one mix's turns, timed per turn."""
    times: dict[str, list[float]] = {"ours": [], "stock": []}
    short = dict.fromkeys(times, 0)
    order = random.Random(f"order:{mix}")
    async with open_store(settings_for(uri)) as store:
        for turn, (name, query) in enumerate(turns(mix, size)):
            ways = list(times)
            order.shuffle(ways)
            for way in ways:
                started = time.perf_counter()
                found = await read(store, way, name, query)
                elapsed = time.perf_counter() - started
                if turn >= WARMUP:
                    times[way].append(elapsed)
                    short[way] += found < 5
    return {
        f"{way}_{mix}": {**summary_ms(values), "turns_with_fewer_than_5_memories": short[way]}
        for way, values in times.items()
    }


async def main() -> None:
    args = arguments()
    size = scale(args.quick)
    if os.environ.get(_PHASE):
        emit(await phase(os.environ["POSTGRES_URI"], os.environ[_PHASE], size))
        return
    out: dict[str, Any] = {"benchmark": "many_users", "quick": args.quick, "scale": size}
    measured = {user(i): size["memories_per_user"] for i in range(size["users"])}
    with postgres(None) as (uri, _):
        out["setup"] = await ensure_dataset(uri, others=0, per_other=0, measured=measured)
        async with open_store(settings_for(uri)) as store:
            await store.abatch([op for i in range(size["users"]) for op in profile_ops(user(i))])
        for mix in ("uniform", "zipf"):
            done = subprocess.run(
                [sys.executable, __file__, *sys.argv[1:]],
                env={**os.environ, _PHASE: mix, "POSTGRES_URI": uri},
                stdout=subprocess.PIPE,
                text=True,
                check=True,
            )
            out.update(json.loads(done.stdout))
    out["meets_target"] = all(
        out[f"ours_{mix}"]["mean_ms"] <= TARGET_MEAN_MS
        and out[f"ours_{mix}"]["p95_ms"] <= TARGET_P95_MS
        and out[f"ours_{mix}"]["mean_ms"] <= out[f"stock_{mix}"]["mean_ms"]
        for mix in ("uniform", "zipf")
    )
    out["target"] = (
        f"ours mean <= {TARGET_MEAN_MS} ms and p95 <= {TARGET_P95_MS} ms in both mixes, "
        "and no slower than stock"
    )
    emit(out)


if __name__ == "__main__":
    asyncio.run(main())
