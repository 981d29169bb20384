"""The memory agent and casts.memory.kinds.memories on both backends; only the LLM is scripted."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import pytest
from langgraph.store.postgres.aio import AsyncPostgresStore

from casts.memory import memories, namespaces
from casts.memory.agent.model import chat_model_from_env
from casts.memory.core.errors import (
    ConfigurationError,
    InvalidValueError,
    MemoryNotFoundError,
    MissingIdentityError,
)
from casts.memory.core.records import Memory, TeamMember, WorkspaceEntry
from casts.memory.settings import Settings, using
from casts.memory.store.persistence import open_store
from casts.memory.store.reading import asearch_all
from casts.memory_agent.graph import MemoryAgentGraph, graph
from tests.conversation import authenticated, said, thread_config, tool_replies
from tests.fake_models import recording, system_prompt, tool_call


def agent(model, store, checkpointer):
    return MemoryAgentGraph(model=model).build(store=store, checkpointer=checkpointer)


async def stored_memories(store, user: str) -> list:
    (items,) = await asearch_all(store, namespaces.user_memories(user))
    return items


async def test_remembered_in_one_thread_is_known_in_another(store, checkpointer, unique):
    user = unique("ada")
    model = recording(
        tool_call("remember_fact", content="Ada is allergic to peanuts"),
        "Noted.",
        tool_call("recall_memories", query="allergic peanuts"),
        "You are allergic to peanuts.",
    )
    app = agent(model, store, checkpointer)
    first = await app.ainvoke(
        said("Please remember I'm allergic to peanuts"),
        thread_config(unique("t1")),
        context={"user_id": user},
    )
    assert set(first) == {"messages"}
    key = memories.memory_key("Ada is allergic to peanuts")
    assert tool_replies(first) == [f'Remembered as new memory {key}: "Ada is allergic to peanuts".']
    assert "peanuts" not in system_prompt(model.received[0]).split("<memories>")[1]

    thread2 = unique("t2")
    second = await app.ainvoke(
        said("What am I allergic to?"), thread_config(thread2), context={"user_id": user}
    )
    assert second["messages"][-1].content == "You are allergic to peanuts."
    # The load node put the memory into the system prompt of the new thread...
    prompt = system_prompt(model.received[2])
    assert "Ada is allergic to peanuts" in prompt.split("<memories>")[1]
    assert key in prompt.split("<memories>")[1]  # the model can name the memory to update it
    # ...kept it in state for the turn, and the recall tool finds it too.
    state = await app.aget_state(thread_config(thread2))
    assert [m["content"] for m in state.values["known"]["memories"]] == [
        "Ada is allergic to peanuts"
    ]
    assert system_prompt(model.received[3]) == prompt
    (recalled,) = tool_replies(second)
    (described,) = json.loads(recalled)
    assert (described["key"], described["content"]) == (key, "Ada is allergic to peanuts")


async def test_users_do_not_see_each_other(store, checkpointer, unique):
    model = recording(
        tool_call("remember_fact", content="Secret: the vault code is 1234"),
        "Noted.",
        tool_call("recall_memories", query="vault code"),
        "Nothing.",
    )
    app = agent(model, store, checkpointer)
    await app.ainvoke(
        said("remember it"), thread_config(unique("ta")), context={"user_id": unique("a")}
    )
    other = await app.ainvoke(
        said("vault code?"), thread_config(unique("tb")), context={"user_id": unique("b")}
    )
    assert tool_replies(other) == ["No memories found."]
    assert "1234" not in system_prompt(model.received[2])


async def test_exact_restatement_confirms_the_memory(store, checkpointer, unique):
    user = unique("dup")
    model = recording(
        tool_call("remember_fact", content="Ada lives in Paris"),
        tool_call("remember_fact", content="  ada LIVES   in paris! "),
        tool_call("remember_fact", content="Ada has a cat named Tom"),
        "Done.",
    )
    result = await agent(model, store, checkpointer).ainvoke(
        said("facts"), thread_config(unique("t")), context={"user_id": user}
    )
    key = memories.memory_key("Ada lives in Paris")
    cat = memories.memory_key("Ada has a cat named Tom")
    assert tool_replies(result) == [
        f'Remembered as new memory {key}: "Ada lives in Paris".',
        f'Confirmed memory {key}: "ada LIVES   in paris!" (it already said this).',
        f'Remembered as new memory {cat}: "Ada has a cat named Tom".',
    ]
    items = await stored_memories(store, user)
    assert sorted((item.key, item.value["content"]) for item in items) == sorted(
        [(key, "ada LIVES   in paris!"), (cat, "Ada has a cat named Tom")]
    )


SISTER = "My sister lives in Paris and works at Google"
BROTHER = "My brother lives in Paris and works at Google"


async def test_a_similar_fact_never_replaces_another_memory(store, unique):
    user = unique("near")
    sister = await memories.remember(store, user, SISTER)
    (first,) = await stored_memories(store, user)
    brother = await memories.remember(store, user, BROTHER)
    assert (sister.status, brother.status) == ("created", "created")
    assert brother.key != sister.key
    assert brother.similar == [memories.MemoryRef(sister.key, SISTER)]
    again = await memories.remember(store, user, f"  {SISTER.upper()}. ", confidence=0.5)
    assert (again.key, again.status) == (sister.key, "confirmed")
    distinct = [
        "Temperature is 5 degrees",
        "Temperature is -5 degrees",
        "I code in C",
        "I code in C++",
    ]
    for text in distinct:
        assert (await memories.remember(store, user, text)).status == "created"
    items = {item.key: item.value for item in await stored_memories(store, user)}
    assert sorted(value["content"] for value in items.values()) == sorted(
        [BROTHER, f"{SISTER.upper()}.", *distinct]
    )
    assert items[sister.key]["confidence"] == 0.5
    assert items[sister.key]["created_at"] == first.value["created_at"]


async def test_tool_names_the_similar_memory_and_keeps_both(store, checkpointer, unique):
    user = unique("sibling")
    model = recording(
        tool_call("remember_fact", content=SISTER),
        tool_call("remember_fact", content=BROTHER),
        "Done.",
    )
    result = await agent(model, store, checkpointer).ainvoke(
        said("family"), thread_config(unique("t")), context={"user_id": user}
    )
    sister, brother = memories.memory_key(SISTER), memories.memory_key(BROTHER)
    first, second = tool_replies(result)
    assert first == f'Remembered as new memory {sister}: "{SISTER}".'
    assert second.startswith(f'Remembered as new memory {brother}: "{BROTHER}". ')
    assert f'Similar memories were left unchanged: {sister}: "{SISTER}".' in second
    items = await stored_memories(store, user)
    assert sorted((item.key, item.value["content"]) for item in items) == sorted(
        [(sister, SISTER), (brother, BROTHER)]
    )


async def test_a_memory_changes_only_when_its_key_is_named(store, checkpointer, unique):
    user = unique("moved")
    paris, berlin = (
        memories.memory_key("Ada lives in Paris"),
        memories.memory_key("Ada lives in Berlin"),
    )
    await memories.remember(store, user, "Ada lives in Paris")
    (before,) = await stored_memories(store, user)
    model = recording(
        tool_call("remember_fact", content="Ada has a cat", key="mem-nonexistent"),
        tool_call("remember_fact", content="Ada lives in Berlin", key=paris),
        tool_call("remember_fact", content="Ada lives in Rome", key=paris),
        "Done.",
    )
    result = await agent(model, store, checkpointer).ainvoke(
        said("I moved"), thread_config(unique("t")), context={"user_id": user}
    )
    missing, moved, gone = tool_replies(result)
    assert missing.startswith("Error: key: there is no memory 'mem-nonexistent'")
    assert moved == (
        f'Updated memory {paris}: "Ada lives in Paris" -> now memory {berlin}: '
        '"Ada lives in Berlin".'
    )
    assert gone.startswith(f"Error: key: there is no memory {paris!r}")
    (item,) = await stored_memories(store, user)
    assert (item.key, item.value["content"]) == (berlin, "Ada lives in Berlin")
    assert before.value["created_at"] == item.value["created_at"]


async def test_forget(store, checkpointer, unique):
    user = unique("forget")
    key = memories.memory_key("Ada plays the cello")
    model = recording(
        tool_call("remember_fact", content="Ada plays the cello"),
        tool_call("forget_memory", key=key),
        tool_call("forget_memory", key=key),
        "Forgotten.",
    )
    result = await agent(model, store, checkpointer).ainvoke(
        said("remember, then forget"), thread_config(unique("t")), context={"user_id": user}
    )
    remembered, forgot, again = tool_replies(result)
    assert remembered == f'Remembered as new memory {key}: "Ada plays the cello".'
    assert forgot == f"Forgot memory {key}."
    assert again.startswith("Error: No memory with key")
    assert key in again
    assert await stored_memories(store, user) == []


async def test_bad_tool_input_is_reported_and_nothing_stored(store, checkpointer, unique):
    user = unique("bad")
    model = recording(
        tool_call("remember_fact", content="   "),
        tool_call("remember_fact", content="Ada likes tea", confidence=7),
        tool_call("recall_memories", query="tea", limit=0),
        "Sorry.",
    )
    result = await agent(model, store, checkpointer).ainvoke(
        said("bad"), thread_config(unique("t")), context={"user_id": user}
    )
    empty, confident, limit = tool_replies(result)
    assert empty.startswith("Error: memory.content:")
    assert confident.startswith("Error: memory.confidence:")
    assert limit.startswith("Error: limit:")
    (everything,) = await asearch_all(store, namespaces.user_root(user))
    assert everything == []


async def test_missing_user_is_refused_before_the_model_runs(store, checkpointer, unique):
    model = recording("never")
    with pytest.raises(MissingIdentityError):
        await agent(model, store, checkpointer).ainvoke(said("hi"), thread_config(unique("t")))
    assert model.received == []


async def test_memory_functions_refuse_bad_input(store, unique):
    user = unique("direct")
    with pytest.raises(InvalidValueError) as caught:
        await memories.remember(store, user, "x" * 5000)
    assert caught.value.field == "memory.content"
    with pytest.raises(InvalidValueError):
        await memories.recall_memories(store, user, "  ")
    with pytest.raises(MemoryNotFoundError):
        await memories.forget(store, user, "mem-missing")
    assert await stored_memories(store, user) == []


async def test_profile_preferences_and_team_workspace_are_in_the_prompt(
    store, checkpointer, unique
):
    user, team = unique("teamed"), unique("team")
    entry = WorkspaceEntry(value={"status": "launch on Friday"}, updated_by=user)
    await store.aput(namespaces.team_workspace(team), "project", entry.to_value())
    member = TeamMember(role="owner", added_by=user)
    await store.aput(namespaces.team_members(team), user, member.to_value())
    model = recording(
        tool_call("set_preference", **{"name": "language", "value": "French"}),
        "D'accord.",
        "Bonjour.",
        "Hello.",
        "Hi.",
    )
    app = agent(model, store, checkpointer)
    context = {"user_id": user, "team_id": team}
    await app.ainvoke(said("answer in French"), thread_config(unique("t1")), context=context)
    await app.ainvoke(said("status?"), thread_config(unique("t2")), context=context)
    prompt = system_prompt(model.received[2])
    assert '"language": "French"' in prompt.split("<preferences>")[1]
    assert "launch on Friday" in prompt.split("<team_workspace")[1]
    await app.ainvoke(said("status?"), thread_config(unique("t3")), context={"user_id": user})
    assert "launch on Friday" not in system_prompt(model.received[3])
    # Naming a team one is not a member of reveals nothing of its workspace.
    outsider = {"user_id": unique("outsider"), "team_id": team}
    await app.ainvoke(said("status?"), thread_config(unique("t4")), context=outsider)
    assert "launch on Friday" not in system_prompt(model.received[4])
    assert "<team_workspace" not in system_prompt(model.received[4])


async def test_what_another_store_writes_is_in_the_next_turns_prompt(
    store, settings, checkpointer, unique
):
    # On PostgreSQL the writer is another store on the same database (a stand-in for
    # another server process); InMemoryStore has no other process, so it writes itself.
    user, team = unique("fresh"), unique("team")
    context = {"user_id": user, "team_id": team}
    model = recording("One.", "Two.", "Three.")
    app = agent(model, store, checkpointer)
    async with AsyncExitStack() as stack:
        writer = store
        if isinstance(store.inner, AsyncPostgresStore):
            writer = await stack.enter_async_context(open_store(settings))
        await app.ainvoke(
            said("what about the trip?"), thread_config(unique("t1")), context=context
        )
        assert "Lisbon" not in system_prompt(model.received[0])

        await memories.remember(writer, user, "The trip to Lisbon is in May")
        await writer.aput(namespaces.user_preferences(user), "tone", {"value": "brief"})
        await writer.aput(namespaces.user_profile(user), "city", {"value": "Porto"})
        member = TeamMember(role="member", added_by=user)
        await writer.aput(namespaces.team_members(team), user, member.to_value())
        entry = WorkspaceEntry(value={"status": "budget approved"}, updated_by=user)
        await writer.aput(namespaces.team_workspace(team), "plan", entry.to_value())
        await app.ainvoke(
            said("what about the trip?"), thread_config(unique("t2")), context=context
        )
        prompt = system_prompt(model.received[1])
        assert "The trip to Lisbon is in May" in prompt.split("<memories>")[1]
        assert '"tone": "brief"' in prompt.split("<preferences>")[1]
        assert "Porto" in prompt
        assert "budget approved" in prompt.split("<team_workspace")[1]

        # Changed and removed by the writer: the next turn shows the change, nothing stale.
        key = memories.memory_key("The trip to Lisbon is in May")
        await writer.aput(
            namespaces.user_memories(user),
            key,
            Memory(content="The trip to Lisbon moved to June").to_value(),
        )
        await writer.adelete(namespaces.user_preferences(user), "tone")
        await app.ainvoke(
            said("what about the trip?"), thread_config(unique("t3")), context=context
        )
        prompt = system_prompt(model.received[2])
        assert "The trip to Lisbon moved to June" in prompt.split("<memories>")[1]
        assert "in May" not in prompt
        assert '"tone"' not in prompt


async def test_served_graph_without_api_key_names_the_settings(store, checkpointer, unique):
    served = graph.copy(update={"store": store, "checkpointer": checkpointer})
    with using(Settings.from_env({})), pytest.raises(ConfigurationError) as caught:
        await served.ainvoke(
            said("hi"), thread_config(unique("t")), context={"user_id": unique("u")}
        )
    message = str(caught.value)
    for setting in ("OPENAI_API_KEY", "MEMORY_AGENT_MODEL", "OPENAI_BASE_URL"):
        assert setting in message


def test_chat_model_comes_from_the_environment():
    model = chat_model_from_env(
        {
            "OPENAI_API_KEY": "sk-test",
            "MEMORY_AGENT_MODEL": "my-model",
            "OPENAI_BASE_URL": "http://localhost:9/v1",
        }
    )
    assert model.model_name == "my-model"
    assert model.openai_api_base == "http://localhost:9/v1"
    assert chat_model_from_env({"OPENAI_API_KEY": "sk-test"}).model_name == "gpt-4o-mini"


async def test_memory_agent_loads_the_team_by_the_same_rule(store, checkpointer, unique):
    ada, mallory, team = unique("ada"), unique("mallory"), unique("t1")
    entry = WorkspaceEntry(value={"status": "launch on Friday"}, updated_by=ada)
    await store.aput(namespaces.team_workspace(team), "project", entry.to_value())
    # mallory is on the roster (say, from before auth was turned on) but her token says t2.
    planted = TeamMember(role="owner", added_by=mallory)
    await store.aput(namespaces.team_members(team), mallory, planted.to_value())
    model = recording("Hello.", "Hi.")
    app = agent(model, store, checkpointer)
    await app.ainvoke(
        said("status?"),
        authenticated(unique("t"), mallory, unique("t2")),
        context={"team_id": team},
    )
    assert "launch on Friday" not in system_prompt(model.received[0])
    # ada's token lists t1; the roster does not list her, and it need not.
    await app.ainvoke(
        said("status?"), authenticated(unique("t"), ada, team), context={"team_id": team}
    )
    assert "launch on Friday" in system_prompt(model.received[1]).split("<team_workspace")[1]
