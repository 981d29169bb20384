"""The two LLM casts on a real `langgraph dev`, with the real ChatOpenAI client talking to a
scripted OpenAI-compatible server: what one thread remembers reaches the next thread's model,
tokens stream through ``runs.stream``, and a long thread's requests stay bounded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from langgraph_sdk import get_client

from casts.memory import namespaces
from tests.conftest import chat_server_env
from tests.dev_server import running_dev_server
from tests.scripted_openai import ScriptedModel, ToolCall

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.postgres]

FACT = "Ada is allergic to peanuts"
PROMPT_BUDGET = 1500


@pytest.fixture(scope="module")
def server(
    scripted_model: tuple[ScriptedModel, str],
    tmp_path_factory: pytest.TempPathFactory,
    database_factory: Callable[[], str],
) -> Iterator[str]:
    """`langgraph dev` on PostgreSQL whose chat model is the scripted server."""
    env = chat_server_env(
        scripted_model[1],
        database_factory(),
        MEMORY_AGENT_MAX_PROMPT_TOKENS=str(PROMPT_BUDGET),
    )
    with running_dev_server(env, tmp_path_factory.mktemp("llm-server")) as url:
        yield url


def play(script: ScriptedModel, *replies: str | list[ToolCall]) -> None:
    script.requests.clear()
    script.replies[:] = list(replies)


async def test_memory_agent_remembers_across_threads_and_streams(server, scripted_model, unique):
    script, _ = scripted_model
    client = get_client(url=server)
    user = unique("ada")
    context = {"user_id": user}
    first, second = await client.threads.create(), await client.threads.create()

    play(script, [ToolCall("remember_fact", {"content": FACT})], "I will keep that in mind.")
    done = await client.runs.wait(
        first["thread_id"],
        "memory_agent",
        input={"messages": [{"role": "user", "content": "I am allergic to peanuts."}]},
        context=context,
    )
    assert done["messages"][-1]["content"] == "I will keep that in mind."
    tool_result = script.requests[1]["messages"][-1]
    assert tool_result["role"] == "tool"
    assert "Error" not in tool_result["content"]
    stored = await client.store.search_items(list(namespaces.user_memories(user)))
    assert [item["value"]["content"] for item in stored["items"]] == [FACT]

    play(script, "Then avoid anything made with peanuts.")
    chunks: list[str] = []
    async for part in client.runs.stream(
        second["thread_id"],
        "memory_agent",
        input={"messages": [{"role": "user", "content": "Which peanuts dishes should I avoid?"}]},
        context=context,
        stream_mode="messages-tuple",
    ):
        if part.event == "messages":
            message, _metadata = part.data
            if message.get("type", "").startswith("AIMessage") and message.get("content"):
                chunks.append(message["content"])
    assert len(chunks) > 1, chunks
    assert "".join(chunks) == "Then avoid anything made with peanuts."
    (request,) = script.requests
    assert request["stream"] is True
    assert FACT in script.system_prompts()[0]


async def test_memory_agent_keeps_users_apart_on_the_server(server, scripted_model, unique):
    script, _ = scripted_model
    client = get_client(url=server)
    ada, bob = unique("ada"), unique("bob")
    play(script, [ToolCall("remember_fact", {"content": FACT})], "Noted.")
    thread = await client.threads.create()
    await client.runs.wait(
        thread["thread_id"],
        "memory_agent",
        input={"messages": [{"role": "user", "content": "I am allergic to peanuts."}]},
        context={"user_id": ada},
    )
    play(script, "No memories of that.")
    other = await client.threads.create()
    await client.runs.wait(
        other["thread_id"],
        "memory_agent",
        input={"messages": [{"role": "user", "content": "Am I allergic to peanuts?"}]},
        context={"user_id": bob},
    )
    assert "peanuts" not in script.system_prompts()[0]


async def test_langmem_cast_creates_and_finds_a_memory_across_threads(
    server, scripted_model, unique
):
    script, _ = scripted_model
    client = get_client(url=server)
    user = unique("lm")
    context = {"user_id": user}
    first, second = await client.threads.create(), await client.threads.create()

    play(
        script,
        [ToolCall("manage_memory", {"content": FACT, "action": "create"})],
        "Saved.",
    )
    await client.runs.wait(
        first["thread_id"],
        "langmem_memory",
        input={"messages": [{"role": "user", "content": "I am allergic to peanuts."}]},
        context=context,
    )
    stored = await client.store.search_items(list(namespaces.user_memories(user)))
    assert [item["value"]["content"] for item in stored["items"]] == [FACT]

    play(script, [ToolCall("search_memory", {"query": "peanuts allergy"})], "Avoid peanuts.")
    done = await client.runs.wait(
        second["thread_id"],
        "langmem_memory",
        input={"messages": [{"role": "user", "content": "What should I avoid eating?"}]},
        context=context,
    )
    assert done["messages"][-1]["content"] == "Avoid peanuts."
    search_result = script.requests[1]["messages"][-1]
    assert search_result["role"] == "tool"
    found = json.loads(search_result["content"])
    assert [hit["value"]["content"] for hit in found] == [FACT]


def assert_whole_turns(request: dict) -> None:
    """A request's messages: the system prompt, then whole turns from a user message on."""
    roles = [message["role"] for message in request["messages"]]
    assert roles[:2] == ["system", "user"], roles
    called: set[str] = set()
    for message in request["messages"]:
        called |= {call["id"] for call in message.get("tool_calls") or []}
        if message["role"] == "tool":
            assert message["tool_call_id"] in called, "a tool result without its tool call"


async def test_a_long_thread_sends_only_recent_whole_turns(server, scripted_model, unique):
    script, _ = scripted_model
    client = get_client(url=server)
    context = {"user_id": unique("long")}
    thread = await client.threads.create()
    questions = [
        f"Question {turn}: " + "please think about this carefully " * 20 for turn in range(20)
    ]
    for turn, question in enumerate(questions):
        remember = (
            [[ToolCall("remember_fact", {"content": f"Fact {turn}"})]] if turn % 4 == 0 else []
        )
        play(script, *remember, f"Answer {turn}.")
        await client.runs.wait(
            thread["thread_id"],
            "memory_agent",
            input={"messages": [{"role": "user", "content": question}]},
            context=context,
        )
        for request in script.requests:
            assert_whole_turns(request)
            users = [m["content"] for m in request["messages"] if m["role"] == "user"]
            assert users[-1] == question

    sent = script.requests[-1]["messages"]
    assert len([m for m in sent if m["role"] == "user"]) < len(questions)
    assert sum(len(message["content"] or "") for message in sent) < PROMPT_BUDGET * 4
    state = await client.threads.get_state(thread["thread_id"])
    kept = [m["content"] for m in state["values"]["messages"] if m["type"] == "human"]
    assert kept == questions  # the thread keeps every turn
