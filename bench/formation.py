"""Item 6: the memory agent's chat turn with background formation on and off.

Two `langgraph dev` servers run side by side on InMemoryStore, one with
``MEMORY_FORMATION=off``, one with it on (delay ``DELAY_S``); both talk to one scripted
OpenAI-compatible server that answers the chat with a short text and the manager with an
empty extraction. Bursts of ``TURNS`` quick turns go to each server in turn (interleaved, so
drift hits both alike), each burst on a new conversation thread. Three timings per turn:
the turn as the client sees it (``runs.wait``, which includes `langgraph dev`'s queue
pick-up, most of it), the graph's run on the server (first to last checkpoint of the turn)
and the ``schedule_formation`` step alone (the checkpoints before and after it). Both
servers run the step; "on" hands the manager's request to ``casts.memory.agent.background``,
which sends it once the conversation has been quiet for a moment, after the turn. After the
last burst and the delay, the manager's thread of every burst on the "on" server is
counted: how many runs it was asked for (a turn whose request the next turn replaced before
it went asks for none), how many ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from common import arguments, emit, run, summary_ms
from langgraph_sdk import get_client

from casts.memory.agent.formation import manager_thread_id
from tests.dev_server import running_dev_server
from tests.scripted_openai import ScriptedModel, ToolCall, scripted_openai

DELAY_S = 2
TURNS = 3
USER = "bench-formation@example.com"


class RoutingModel(ScriptedModel):
    """Answers by what is asked: the manager's structured outputs, else a chat text."""

    def next_reply(self, body: dict[str, Any]) -> Any:
        tools = {tool["function"]["name"] for tool in body.get("tools") or []}
        with self.lock:
            self.requests.append(body)
        if "Extraction" in tools:
            return [ToolCall("Extraction", {"candidates": []})]
        if "Decisions" in tools:
            return [ToolCall("Decisions", {"decisions": []})]
        return "Sure."


async def burst(client: Any, turns: int) -> tuple[str, list[float]]:
    """``turns`` quick turns on a new thread; the thread id and each turn's seconds."""
    thread = await client.threads.create()
    took = []
    for n in range(turns):
        started = time.perf_counter()
        await client.runs.wait(
            thread["thread_id"],
            "memory_agent",
            input={"messages": [{"role": "user", "content": f"Message {n} of this burst."}]},
            context={"user_id": USER},
        )
        took.append(time.perf_counter() - started)
    return thread["thread_id"], took


def _seconds(before: dict[str, Any], after: dict[str, Any]) -> float:
    later = datetime.fromisoformat(after["created_at"])
    return (later - datetime.fromisoformat(before["created_at"])).total_seconds()


async def server_seconds(client: Any, thread_id: str) -> tuple[list[float], list[float]]:
    """Per turn, from the thread's checkpoints: the graph's run and its schedule step.

    The server timestamps each checkpoint. A turn runs from its input checkpoint
    (``source == "input"``) to the last one before the next turn's; the step from the
    checkpoint before it (``next == ["schedule_formation"]``) to the one after, its
    checkpoint write included. Neither contains the queue pick-up a client's timing has.
    """
    history = await client.threads.get_history(thread_id, limit=100)
    ordered = sorted(history, key=lambda snapshot: snapshot["created_at"])
    starts = [n for n, snap in enumerate(ordered) if snap["metadata"].get("source") == "input"]
    ends = [n - 1 for n in starts[1:]] + [len(ordered) - 1]
    runs = [
        _seconds(ordered[first], ordered[last]) for first, last in zip(starts, ends, strict=True)
    ]
    steps = [
        _seconds(before, after)
        for before, after in itertools.pairwise(ordered)
        if before["next"] == ["schedule_formation"]
    ]
    return runs, steps


async def manager_runs(client: Any, threads: list[str]) -> list[dict[str, int]]:
    """Per burst: runs requested of the manager and runs that ran, once none is waiting."""
    counted = []
    for thread_id in threads:
        manager = manager_thread_id(USER, thread_id)
        for _ in range(120):
            runs = await client.runs.list(manager)
            if runs and all(r["status"] not in ("pending", "running") for r in runs):
                break
            await asyncio.sleep(0.5)
        ran = sum(r["status"] == "success" for r in runs)
        counted.append({"requested": len(runs), "ran": ran})
    return counted


async def main() -> None:
    args = arguments()
    bursts = 4 if args.quick else 20
    script = RoutingModel()
    with contextlib.ExitStack() as stack:
        base_url = stack.enter_context(scripted_openai(script))
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {
            "MEMORY_BACKEND": "memory",
            "MEMORY_EMBEDDINGS": "hash",
            "MEMORY_EMBEDDING_DIMS": "64",
            "OPENAI_API_KEY": "sk-scripted",
            "OPENAI_BASE_URL": base_url,
            "MEMORY_FORMATION_DELAY_SECONDS": str(DELAY_S),
        }
        urls = {}
        for mode in ("off", "on"):
            (logs / mode).mkdir()
            server = running_dev_server({**env, "MEMORY_FORMATION": mode}, logs / mode)
            urls[mode] = stack.enter_context(server)
        clients = {mode: get_client(url=url) for mode, url in urls.items()}
        for client in clients.values():  # warm-up: first imports, first connections
            await burst(client, 1)
        turns: dict[str, list[float]] = {"off": [], "on": []}
        graphs: dict[str, list[float]] = {"off": [], "on": []}
        steps: dict[str, list[float]] = {"off": [], "on": []}
        threads: list[str] = []
        for _ in range(bursts):
            for mode, client in clients.items():
                thread_id, took = await burst(client, TURNS)
                turns[mode].extend(took)
                ran, step = await server_seconds(client, thread_id)
                graphs[mode].extend(ran)
                steps[mode].extend(step)
                if mode == "on":
                    threads.append(thread_id)
        counted = await manager_runs(clients["on"], threads)
    off, on = summary_ms(turns["off"]), summary_ms(turns["on"])
    emit(
        {
            "scale": {"bursts": bursts, "turns_per_burst": TURNS, "delay_s": DELAY_S},
            "turn_off": off,
            "turn_on": on,
            "added_p50_ms": round(on["p50_ms"] - off["p50_ms"], 3),
            "graph_off": summary_ms(graphs["off"]),
            "graph_on": summary_ms(graphs["on"]),
            "added_graph_p50_ms": round(
                summary_ms(graphs["on"])["p50_ms"] - summary_ms(graphs["off"])["p50_ms"], 3
            ),
            "schedule_step_off": summary_ms(steps["off"]),
            "schedule_step_on": summary_ms(steps["on"]),
            "manager_runs_per_burst": sorted({c["ran"] for c in counted}),
            "manager_requests_per_burst": sorted({c["requested"] for c in counted}),
        }
    )


if __name__ == "__main__":
    run(main)
