"""Background memory formation on a real `langgraph dev`, with the real ChatOpenAI client
talking to a scripted OpenAI-compatible server: three quick memory-agent turns produce one
memory-manager run after the delay (any earlier request is cancelled before it starts),
and a new thread of the same user sees what it formed. Without auth, the chat thread gets
its user as owner, so `forget-user --server` deletes it. Where the manager cannot be
scheduled, the turn still answers, and the failure is logged after the turn is over."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from casts.memory import namespaces
from casts.memory.agent.formation import manager_thread_id
from casts.memory.cli.main import amain
from casts.memory.settings import Settings
from casts.memory.store.persistence import open_store
from tests.conftest import chat_server_env
from tests.dev_server import running_dev_server
from tests.scripted_openai import ScriptedModel, ToolCall, scripted_openai

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.postgres]

DELAY_SECONDS = 6
WAIT_SECONDS = 90


@pytest.fixture(scope="module")
def server_env(
    scripted_model: tuple[ScriptedModel, str], database_factory: Callable[[], str]
) -> dict[str, str]:
    return chat_server_env(
        scripted_model[1],
        database_factory(),
        MEMORY_FORMATION="on",
        MEMORY_FORMATION_DELAY_SECONDS=str(DELAY_SECONDS),
    )


@pytest.fixture(scope="module")
def server(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_dev_server(server_env, tmp_path_factory.mktemp("formation-server")) as url:
        yield url


async def runs_of(client, thread_id: str) -> list[dict]:
    """The thread's runs; none while the thread does not exist yet."""
    try:
        return await client.runs.list(thread_id)
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            return []
        raise


async def finished_runs(client, thread_id: str) -> list[dict]:
    """The thread's runs once there is one and none is pending or running."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        runs = await runs_of(client, thread_id)
        if runs and all(run["status"] not in ("pending", "running") for run in runs):
            return runs
        await asyncio.sleep(0.5)
    raise AssertionError(f"the manager's runs did not finish: {runs}")


async def eventually(check: Callable[[], object], what: str) -> None:
    """Wait (up to WAIT_SECONDS) until ``await check()`` is true."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"never happened: {what}")


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
    waiting = await runs_of(client, manager_thread)
    assert all(run["status"] in ("pending", "interrupted") for run in waiting)
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
    # A request the next turn replaced before it was sent was never made; each one made
    # cancelled the one before it, still waiting: one run ran.
    statuses = sorted(run["status"] for run in runs)
    assert statuses == ["interrupted"] * (len(runs) - 1) + ["success"]
    assert 1 <= len(runs) <= len(turns)
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


@pytest.fixture(scope="module")
def copied_without_manager(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str]
) -> Iterator[tuple[str, dict[str, str], ScriptedModel, Path]]:
    """A project that copied the memory agent but not the manager, formation left on.

    Its own scripted model: the other server's delayed manager runs cannot take its replies.
    Yields the URL, the server's environment, the model and the log's directory.
    """
    script = ScriptedModel()
    log_dir = tmp_path_factory.mktemp("no-manager-server")
    with scripted_openai(script) as base_url:
        env = chat_server_env(base_url, database_factory(), MEMORY_FORMATION="on")
        with running_dev_server(env, log_dir, without=["memory_manager"]) as url:
            yield url, env, script, log_dir


def log_lines(log_dir: Path) -> list[str]:
    (log,) = log_dir.glob("langgraph-dev-*.log")
    return re.sub(r"\x1b\[[0-9;]*m", "", log.read_text()).splitlines()


FAILED = "could not schedule memory formation"


async def test_a_turn_answers_before_a_failing_schedule_and_the_failure_is_logged(
    copied_without_manager, unique
):
    url, _, script, log_dir = copied_without_manager
    client = get_client(url=url)
    chat = await client.threads.create()
    script.replies[:] = ["Hello!"]
    run = await client.runs.create(
        chat["thread_id"],
        "memory_agent",
        input={"messages": [{"role": "user", "content": "Hi"}]},
        context={"user_id": unique("ada")},
    )
    out = await client.runs.join(chat["thread_id"], run["run_id"])
    assert out["messages"][-1]["content"] == "Hello!"  # the answer is not lost

    def line_of(text: str, also: str = "") -> int | None:
        lines = log_lines(log_dir)
        return next((n for n, line in enumerate(lines) if text in line and also in line), None)

    async def failure_logged() -> bool:
        return line_of(FAILED) is not None

    await eventually(failure_logged, "the failure to schedule is logged")
    finished = line_of("Background run succeeded", run["run_id"])
    assert finished is not None
    assert finished < line_of(FAILED)  # the request was made (and refused) after the turn


async def test_a_thread_made_without_auth_gets_its_owner_and_forget_user_deletes_it(
    copied_without_manager, unique, capsys
):
    url, env, script, _ = copied_without_manager
    client = get_client(url=url)
    user, other = unique("grace"), unique("alan")
    chat = await client.threads.create()  # no auth: no owner
    others = await client.threads.create()
    assert "owner" not in chat["metadata"]
    script.replies[:] = ["Hello Grace!", "Hello Alan!"]
    for thread, who in ((chat, user), (others, other)):
        await client.runs.wait(
            thread["thread_id"],
            "memory_agent",
            input={"messages": [{"role": "user", "content": "Hi"}]},
            context={"user_id": who},
        )

    async def owned(thread: dict, who: str) -> bool:
        metadata = (await client.threads.get(thread["thread_id"]))["metadata"]
        return metadata.get("owner") == who

    await eventually(lambda: owned(chat, user), "the chat thread names its user as owner")
    await eventually(lambda: owned(others, other), "the other thread names its user")

    async with open_store(Settings.from_env(env)) as store:
        capsys.readouterr()
        code = await amain(["forget-user", user, "--server", url], store=store)
    receipt = json.loads(capsys.readouterr().out)
    assert code == 0
    assert receipt["threads"] == [chat["thread_id"]]
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await client.threads.get(chat["thread_id"])
    assert missing.value.response.status_code == 404
    assert await owned(others, other)  # another user's thread stays
