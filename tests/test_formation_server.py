"""Background memory formation on a real `langgraph dev`, with the real ChatOpenAI client
talking to a scripted OpenAI-compatible server: three quick memory-agent turns produce one
memory-manager run after the delay (the earlier requests
are cancelled before they start), and a new thread of the same user sees what it formed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from langgraph_sdk import get_client

from casts.memory import namespaces
from casts.memory.agent.formation import manager_thread_id
from tests.conftest import chat_server_env
from tests.dev_server import running_dev_server
from tests.scripted_openai import ScriptedModel, ToolCall

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.postgres]

DELAY_SECONDS = 6
WAIT_SECONDS = 90


@pytest.fixture(scope="module")
def server(
    scripted_model: tuple[ScriptedModel, str],
    tmp_path_factory: pytest.TempPathFactory,
    database_factory: Callable[[], str],
) -> Iterator[str]:
    env = chat_server_env(
        scripted_model[1],
        database_factory(),
        MEMORY_FORMATION="on",
        MEMORY_FORMATION_DELAY_SECONDS=str(DELAY_SECONDS),
    )
    with running_dev_server(env, tmp_path_factory.mktemp("formation-server")) as url:
        yield url


async def finished_runs(client, thread_id: str) -> list[dict]:
    """The thread's runs once none is pending or running."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        runs = await client.runs.list(thread_id)
        if runs and all(run["status"] not in ("pending", "running") for run in runs):
            return runs
        await asyncio.sleep(0.5)
    raise AssertionError(f"the manager's runs did not finish: {runs}")


async def test_a_burst_of_turns_forms_memories_once_for_the_next_thread(
    server, scripted_model, unique
):
    script, _ = scripted_model
    client = get_client(url=server)
    user = unique("ada")
    context = {"user_id": user}
    chat = await client.threads.create()
    turns = ["Hi, I'm Ada.", "I drink green tea every morning.", "Anyway, what's the time?"]
    script.replies[:] = ["Hello Ada!", "Nice habit.", "I can't see a clock."]

    for text in turns:
        await client.runs.wait(
            chat["thread_id"],
            "memory_agent",
            input={"messages": [{"role": "user", "content": text}]},
            context=context,
        )
    # The turns did not wait for the manager: it has not run, and nothing is formed yet.
    manager_thread = manager_thread_id(user, chat["thread_id"])
    waiting = await client.runs.list(manager_thread)
    # Each turn asked for a run; each request cancelled the one before, still waiting.
    assert sorted(run["status"] for run in waiting) == ["interrupted", "interrupted", "pending"]
    memories_ns = list(namespaces.user_memories(user))
    assert (await client.store.search_items(memories_ns))["items"] == []

    state = await client.threads.get_state(chat["thread_id"])
    tea_id = state["values"]["messages"][2]["id"]  # the second user message
    script.requests.clear()
    script.replies[:] = [
        [
            ToolCall(
                "Extraction",
                {
                    "candidates": [
                        {
                            "kind": "fact",
                            "content": "Ada drinks green tea every morning",
                            "message_ids": [tea_id],
                        }
                    ]
                },
            )
        ],
        [ToolCall("Decisions", {"decisions": [{"candidate": 0, "action": "add"}]})],
    ]
    runs = await finished_runs(client, manager_thread)
    assert sorted(run["status"] for run in runs) == ["interrupted", "interrupted", "success"]
    assert script.replies == []
    assert len(script.requests) == 2  # one extraction: one call to extract, one to decide
    (item,) = (await client.store.search_items(memories_ns))["items"]
    assert item["value"]["content"] == "Ada drinks green tea every morning"
    (provenance,) = item["value"]["provenance"]
    assert provenance["thread_id"] == chat["thread_id"]
    assert provenance["message_ids"] == [tea_id]
    # The manager read the whole burst in its one run.
    transcript = script.requests[0]["messages"][0]["content"]
    assert all(text in transcript for text in turns)

    script.requests.clear()
    script.replies[:] = ["Green tea, as every morning."]
    fresh = await client.threads.create()
    await client.runs.wait(
        fresh["thread_id"],
        "memory_agent",
        input={"messages": [{"role": "user", "content": "What do I drink in the morning? tea?"}]},
        context=context,
    )
    assert "Ada drinks green tea every morning" in script.system_prompts()[0]
