"""Item 5: the memory agent's per-turn memory read with traffic spread over many users.

400 users with 400 memories each (hash embeddings, see common.py) on PostgreSQL, plus each
user's profile and preferences in both layouts. 800 turns, each for a user chosen at
random -- uniformly, or Zipf(1.0)-skewed (a few users get most turns) -- read what the
turn needs in one of two ways:

- ``ours``: ``casts.memory_agent.nodes.load_known`` (profile and preferences in one batch,
  concurrently with hybrid recall of the 5 most relevant memories);
- ``stock``: the design note's sequential ``aget`` profile, ``asearch(query=...)`` the
  memories, ``aget`` preferences on the raw AsyncPostgresStore, over the same memories.

Each (way, mix) runs in a fresh process, so nothing a process may keep in memory carries
over between phases; a few untimed turns only open the pool. Both mixes and both ways see
the same sequence of users and queries.
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
from casts.memory.identity import Identity
from casts.memory.persistence import open_store
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


async def phase(uri: str, way: str, mix: str, size: dict[str, int]) -> dict[str, Any]:
    """One way over one mix's turns, timed per turn."""
    times: list[float] = []
    short = 0
    async with open_store(settings_for(uri)) as store:
        raw = store.inner
        for turn, (name, query) in enumerate(turns(mix, size)):
            started = time.perf_counter()
            if way == "ours":
                known = await load_known(store, Identity(user_id=name), query)
                found = len(known["memories"])
            else:
                await raw.aget(("stock", name), "profile")
                found = len(await raw.asearch(namespaces.user_memories(name), query=query, limit=5))
                await raw.aget(("stock", name), "preferences")
            elapsed = time.perf_counter() - started
            if turn >= WARMUP:
                times.append(elapsed)
                short += found < 5
    return {**summary_ms(times), "turns_with_fewer_than_5_memories": short}


async def main() -> None:
    args = arguments()
    size = scale(args.quick)
    if os.environ.get(_PHASE):
        way, mix = os.environ[_PHASE].split(":")
        emit(await phase(os.environ["POSTGRES_URI"], way, mix, size))
        return
    out: dict[str, Any] = {"benchmark": "many_users", "quick": args.quick, "scale": size}
    measured = {user(i): size["memories_per_user"] for i in range(size["users"])}
    with postgres(None) as (uri, _):
        out["setup"] = await ensure_dataset(uri, others=0, per_other=0, measured=measured)
        async with open_store(settings_for(uri)) as store:
            await store.abatch([op for i in range(size["users"]) for op in profile_ops(user(i))])
        for mix in ("uniform", "zipf"):
            for way in ("ours", "stock"):
                done = subprocess.run(
                    [sys.executable, __file__, *sys.argv[1:]],
                    env={**os.environ, _PHASE: f"{way}:{mix}", "POSTGRES_URI": uri},
                    stdout=subprocess.PIPE,
                    text=True,
                    check=True,
                )
                out[f"{way}_{mix}"] = json.loads(done.stdout)
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
