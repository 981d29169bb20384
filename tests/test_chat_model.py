"""The chat model factory (any provider through ``init_chat_model``) and long conversations.

The OpenAI cases talk through the real ChatOpenAI client to the scripted OpenAI-compatible
server, so what is checked is the request the model receives. The long-conversation cases
run the memory agent on both backends with a scripted model that records every call.
"""

from __future__ import annotations

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately

from casts.memory.agent.model import chat_model_from_env, chat_settings_from_env, fit_to_budget
from casts.memory.core.errors import ConfigurationError
from casts.memory.settings import Settings, using
from casts.memory_agent.graph import MemoryAgentGraph, graph
from tests.conversation import said, thread_config
from tests.fake_models import RecordingModel, tool_call
from tests.scripted_openai import ScriptedModel, scripted_openai

# --- which model MEMORY_AGENT_MODEL names ---------------------------------------------


@pytest.mark.parametrize(
    ("setting", "sent_as"),
    [
        (None, "gpt-4o-mini"),
        ("my-model", "my-model"),
        ("openai:local-model", "local-model"),
        ("openai:qwen2.5:7b", "qwen2.5:7b"),
    ],
)
async def test_openai_models_reach_an_openai_compatible_server(setting, sent_as):
    script = ScriptedModel(replies=["Hello from the server."])
    with scripted_openai(script) as base_url:
        env = {"OPENAI_API_KEY": "sk-scripted", "OPENAI_BASE_URL": base_url}
        if setting is not None:
            env["MEMORY_AGENT_MODEL"] = setting
        reply = await chat_model_from_env(env).ainvoke("hi")
    assert reply.content == "Hello from the server."
    (request,) = script.requests
    assert request["model"] == sent_as


def test_anthropic_models_are_built_with_their_key():
    model = chat_model_from_env(
        {"MEMORY_AGENT_MODEL": "anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY": "sk-ant-x"}
    )
    assert isinstance(model, ChatAnthropic)
    assert model.model == "claude-sonnet-4-5"
    assert model.anthropic_api_key.get_secret_value() == "sk-ant-x"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "OPENAI_API_KEY"),
        ({"MEMORY_AGENT_MODEL": "openai:gpt-4o"}, "OPENAI_API_KEY"),
        # The other provider's key does not stand in for the one the model needs.
        (
            {"MEMORY_AGENT_MODEL": "anthropic:claude-sonnet-4-5", "OPENAI_API_KEY": "sk"},
            "ANTHROPIC_API_KEY",
        ),
        ({"MEMORY_AGENT_MODEL": "gpt-4o", "ANTHROPIC_API_KEY": "sk-ant"}, "OPENAI_API_KEY"),
    ],
)
def test_a_missing_key_is_named(env, named):
    with pytest.raises(ConfigurationError, match=named):
        chat_model_from_env(env)


def test_a_missing_provider_package_names_the_pip_package():
    # langchain-mistralai is not a dependency of the project, so it is not installed.
    with pytest.raises(ConfigurationError) as caught:
        chat_model_from_env({"MEMORY_AGENT_MODEL": "mistralai:mistral-large-latest"})
    assert "MEMORY_AGENT_MODEL" in str(caught.value)
    assert "pip install langchain-mistralai" in str(caught.value)


def test_a_provider_without_a_model_names_the_setting():
    with pytest.raises(ConfigurationError, match="MEMORY_AGENT_MODEL=openai: names no model"):
        chat_model_from_env({"MEMORY_AGENT_MODEL": "openai:", "OPENAI_API_KEY": "sk"})


def test_an_unknown_provider_names_the_setting():
    with pytest.raises(ConfigurationError) as caught:
        chat_model_from_env({"MEMORY_AGENT_MODEL": "qwen:7b", "OPENAI_API_KEY": "sk"})
    assert "MEMORY_AGENT_MODEL=qwen:7b" in str(caught.value)
    assert "openai:" in str(caught.value)


async def test_served_graph_without_the_providers_key_names_it(store, checkpointer, unique):
    settings = Settings.from_env(
        {"MEMORY_AGENT_MODEL": "anthropic:claude-sonnet-4-5", "OPENAI_API_KEY": "sk-openai"}
    )
    served = graph.copy(update={"store": store, "checkpointer": checkpointer})
    with using(settings), pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        await served.ainvoke(
            said("hi"), thread_config(unique("t")), context={"user_id": unique("u")}
        )


@pytest.mark.parametrize("value", ["8k", "0", "-1", "1.5"])
def test_a_bad_prompt_budget_names_the_setting(value):
    with pytest.raises(ConfigurationError, match="MEMORY_AGENT_MAX_PROMPT_TOKENS"):
        chat_settings_from_env({"MEMORY_AGENT_MAX_PROMPT_TOKENS": value})


def test_the_prompt_budget_comes_from_the_environment():
    assert (
        chat_settings_from_env({"MEMORY_AGENT_MAX_PROMPT_TOKENS": "1200"}).max_prompt_tokens == 1200
    )
    assert chat_settings_from_env({"MEMORY_AGENT_MAX_PROMPT_TOKENS": ""}).max_prompt_tokens == 8000


# --- long conversations ----------------------------------------------------------------


def assert_whole_turns(sent: list[BaseMessage]) -> None:
    """What a model call received starts on a human message and pairs every tool result."""
    assert isinstance(sent[0], HumanMessage), sent[0]
    called: set[str] = set()
    for message in sent:
        if isinstance(message, AIMessage):
            called |= {call["id"] for call in message.tool_calls}
        if isinstance(message, ToolMessage):
            assert message.tool_call_id in called, "a tool result without its tool call"


def conversation(turns: int) -> list[BaseMessage]:
    """``turns`` turns; every third one calls a tool before answering."""
    messages: list[BaseMessage] = []
    for turn in range(turns):
        messages.append(HumanMessage(f"question {turn}: " + "words " * 20))
        if turn % 3 == 0:
            call = tool_call("recall_memories", query=f"topic {turn}")
            result = ToolMessage("result " * 30, tool_call_id=call.tool_calls[0]["id"])
            messages += [call, result]
        messages.append(AIMessage(f"answer {turn}: " + "more " * 10))
    return messages


@pytest.mark.parametrize("budget", [0, 50, 100, 200, 400, 800, 1600])
def test_trimming_keeps_whole_turns_and_the_latest_question(budget):
    messages = conversation(20)
    latest = messages[-2]  # the last turn is a plain question and answer
    kept = fit_to_budget(messages, budget)
    assert_whole_turns(kept)
    assert latest in kept
    assert kept == messages[len(messages) - len(kept) :]  # the most recent, in order
    assert count_tokens_approximately(kept) <= budget or kept == messages[-2:]


def test_trimming_keeps_the_current_turn_even_over_the_budget():
    messages = conversation(5)
    call = tool_call("recall_memories", query="x")
    current = [
        HumanMessage("the question " * 100),
        call,
        ToolMessage("a long result " * 100, tool_call_id=call.tool_calls[0]["id"]),
    ]
    assert fit_to_budget([*messages, *current], 10) == current


def test_a_conversation_within_the_budget_is_sent_whole():
    messages = conversation(4)
    assert fit_to_budget(messages, 10_000) == messages


@pytest.mark.slow
async def test_a_300_turn_thread_stays_within_the_budget(store, checkpointer, unique):
    budget = 1000
    replies: list[AIMessage | str] = []
    for turn in range(300):
        if turn % 25 == 0:
            replies.append(tool_call("remember_fact", content=f"Ada's fact number {turn}"))
        replies.append(f"Answer {turn}: " + "noted " * 10)
    model = RecordingModel(messages=iter(replies))
    app = MemoryAgentGraph(model=model, max_prompt_tokens=budget).build(
        store=store, checkpointer=checkpointer
    )
    config, context = thread_config(unique("long")), {"user_id": unique("ada")}
    for turn in range(300):
        question = f"Turn {turn}: " + "tell me something about this " * 5
        await app.ainvoke(said(question), config, context=context)
        sent = model.received[-1]
        assert isinstance(sent[0], SystemMessage)
        assert count_tokens_approximately(sent) <= budget, turn
        assert_whole_turns(sent[1:])
        assert [m.content for m in sent if isinstance(m, HumanMessage)][-1] == question

    assert len(model.received[-1]) < 40  # older turns were left out...
    state = (await app.aget_state(config)).values["messages"]
    humans = [m.content for m in state if isinstance(m, HumanMessage)]
    assert len(humans) == 300  # ...of the model call, not of the thread
    assert humans[0].startswith("Turn 0: ")
    assert len([m for m in state if isinstance(m, ToolMessage)]) == 12
    assert len(state) == 300 * 2 + 12 * 2
