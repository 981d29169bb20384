"""Item 7: concurrent runs of the ``user_profile`` cast (no LLM) through three servers.

- ``dev``: ``langgraph dev`` (one process, runs in memory, flushed to disk);
- ``prod_1`` / ``prod_2``: the production server (``python -m casts.memory.serve``: stock
  langgraph-api on langgraph-runtime-pg, threads and runs in PostgreSQL) with 1 and with
  2 server processes, on one embedded Valkey broker.

All three run at once on one embedded PostgreSQL (one database each) with the same
``--jobs`` runs at once per process. Each round sends a batch of runs to each server in
turn (random order), ``CONCURRENCY`` in flight at once, every run on a fresh thread for a
user of its own (nothing warm to reuse); a run is ``runs.wait`` of one profile update.
Reported: successful runs per second over each batch, latency p50 / p95 of one successful
run, and the runs whose ``runs.wait`` did not return the profile they wrote (with a sample of
what they returned and of the thread's state read afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from common import arguments, emit, postgres, run, summary_ms
from langgraph_sdk import get_client

from tests.conftest import TEST_EMBEDDINGS, with_database
from tests.dev_server import running_dev_server
from tests.production_server import running_broker, running_production_server

JOBS = 10
CONCURRENCY = 20


def scale(quick: bool) -> dict[str, int]:
    if quick:
        return {"rounds": 2, "runs_per_batch": 20, "concurrency": CONCURRENCY, "jobs": JOBS}
    return {"rounds": 6, "runs_per_batch": 120, "concurrency": CONCURRENCY, "jobs": JOBS}


async def batch(client: Any, runs: int, concurrency: int) -> tuple[float, list[float], list[Any]]:
    """``runs`` profile updates, ``concurrency`` at once.

    Returns: wall seconds, seconds of each run that succeeded, what each failed one returned
    (and its thread's state read afterwards).
    """
    gate = asyncio.Semaphore(concurrency)

    async def one() -> tuple[float, Any]:
        async with gate:
            thread = await client.threads.create()
            user = f"bench-prod-{uuid.uuid4().hex[:12]}"
            started = time.perf_counter()
            out = await client.runs.wait(
                thread["thread_id"],
                "user_profile",
                input={"set_fields": {"name": user}},
                context={"user_id": user},
            )
            took = time.perf_counter() - started
            if out.get("profile") == {"name": user}:
                return took, None
            state = await client.threads.get_state(thread["thread_id"])
            return took, {"returned": out, "thread_state_after": state["values"]}

    started = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(runs)))
    wall = time.perf_counter() - started
    return wall, [took for took, bad in results if bad is None], [bad for _, bad in results if bad]


def create_database(uri: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(uri, name)


async def main() -> None:
    args = arguments()
    s = scale(args.quick)
    with (
        postgres(None) as (uri, _),
        tempfile.TemporaryDirectory(prefix="bench-prod-") as logs,
        contextlib.ExitStack() as stack,
    ):
        logs_dir = Path(logs)
        broker = stack.enter_context(running_broker(logs_dir))

        def env() -> dict[str, str]:
            return {
                "MEMORY_BACKEND": "postgres",
                "POSTGRES_URI": create_database(uri),
                "REDIS_URI": broker,
                "OPENAI_API_KEY": "",
                **TEST_EMBEDDINGS,
            }

        urls: dict[str, str] = {}
        processes: dict[str, int] = {"dev": 1}
        (logs_dir / "dev").mkdir()
        urls["dev"] = stack.enter_context(
            running_dev_server(env(), logs_dir / "dev", jobs_per_worker=JOBS)
        )
        for name, workers in (("prod_1", 1), ("prod_2", 2)):
            (logs_dir / name).mkdir()
            server = running_production_server(env(), logs_dir / name, workers=workers, jobs=JOBS)
            started = stack.enter_context(server)
            urls[name] = started.url
            processes[name] = started.serving_processes()
            assert processes[name] == workers, processes  # --workers really took effect
        clients = {name: get_client(url=url) for name, url in urls.items()}
        for client in clients.values():  # untimed: first imports, first connections
            await batch(client, s["concurrency"], s["concurrency"])

        walls: dict[str, list[float]] = {name: [] for name in clients}
        latencies: dict[str, list[float]] = {name: [] for name in clients}
        failed: dict[str, list[Any]] = {name: [] for name in clients}
        order = list(clients)
        for _ in range(s["rounds"]):
            random.shuffle(order)
            for name in order:
                wall, each, bad = await batch(clients[name], s["runs_per_batch"], s["concurrency"])
                walls[name].append(wall)
                latencies[name].extend(each)
                failed[name].extend(bad)

    result: dict[str, Any] = {"scale": s}
    for name in clients:
        result[name] = {
            "server_processes": processes[name],
            "runs_per_s": round(len(latencies[name]) / sum(walls[name]), 1),
            **summary_ms(latencies[name]),
            "failed_runs": len(failed[name]),
            "failed_sample": failed[name][:2],
        }
    dev = result["dev"]
    for name in ("prod_1", "prod_2"):
        result[f"{name}_over_dev_throughput"] = round(
            result[name]["runs_per_s"] / dev["runs_per_s"], 2
        )
        result[f"{name}_over_dev_p95"] = round(result[name]["p95_ms"] / dev["p95_ms"], 2)
    emit(result)


if __name__ == "__main__":
    run(main)
