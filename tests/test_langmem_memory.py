"""The LangMem cast on both backends: LangMem's tools in the user's namespace, across threads."""

from __future__ import annotations

import json
import re

import pytest

from casts.langmem_memory.graph import LangMemGraph, graph
from casts.langmem_memory.modules.tools import SCHEMA_TOOLS
from casts.memory import namespaces
from casts.memory.errors import ConfigurationError, MissingIdentityError
from casts.memory.queries import asearch_all
from tests.conversation import said, thread_config, tool_replies
from tests.fake_models import scripted, tool_call


def agent(model, store, checkpointer):
    return LangMemGraph(model=model).build(store=store, checkpointer=checkpointer)


async def user_memories(store, user: str) -> dict[str, dict]:
    (items,) = await asearch_all(store, namespaces.user_memories(user))
    return {item.key: item.value for item in items}


async def test_created_in_one_thread_found_in_another(store, checkpointer, unique):
    user = unique("ada")
    model = scripted(
        tool_call("manage_memory", content="Ada prefers window seats"),
        "Noted.",
        tool_call("search_memory", query="seat preference"),
        "Window seats.",
    )
    app = agent(model, store, checkpointer)
    first = await app.ainvoke(
        said("I like window seats"), thread_config(unique("t1")), context={"user_id": user}
    )
    (created,) = tool_replies(first)
    key = re.fullmatch(r"created memory (\S+)", created).group(1)
    assert await user_memories(store, user) == {key: {"content": "Ada prefers window seats"}}

    second = await app.ainvoke(
        said("Where do I sit?"), thread_config(unique("t2")), context={"user_id": user}
    )
    assert set(second) == {"messages"}
    (found,) = tool_replies(second)
    hits = json.loads(found)
    assert [(hit["key"], hit["value"]["content"]) for hit in hits] == [
        (key, "Ada prefers window seats")
    ]
    assert tuple(hits[0]["namespace"]) == namespaces.user_memories(user)


async def test_other_users_find_nothing(store, checkpointer, unique):
    model = scripted(
        tool_call("manage_memory", content="The launch code is 0000"),
        "Noted.",
        tool_call("search_memory", query="launch code"),
        "Nothing.",
    )
    app = agent(model, store, checkpointer)
    await app.ainvoke(
        said("remember"), thread_config(unique("ta")), context={"user_id": unique("a")}
    )
    other = await app.ainvoke(
        said("code?"), thread_config(unique("tb")), context={"user_id": unique("b")}
    )
    assert json.loads(tool_replies(other)[0]) == []


async def test_a_user_id_that_looks_like_a_placeholder_stays_literal(store, checkpointer, unique):
    user = "{" + unique("thread_id") + "}"
    model = scripted(tool_call("manage_memory", content="Braces are fine"), "Noted.")
    result = await agent(model, store, checkpointer).ainvoke(
        said("remember"), thread_config(unique("t")), context={"user_id": user}
    )
    assert tool_replies(result)[0].startswith("created memory ")
    assert [v["content"] for v in (await user_memories(store, user)).values()] == [
        "Braces are fine"
    ]


async def test_refused_call_is_reported_and_nothing_stored(store, checkpointer, unique):
    user = unique("bad")
    model = scripted(
        tool_call("manage_memory", content="x", action="update"),
        tool_call("manage_memory", content="bad\x00byte"),
        "Sorry.",
    )
    result = await agent(model, store, checkpointer).ainvoke(
        said("bad"), thread_config(unique("t")), context={"user_id": user}
    )
    no_id, nul = tool_replies(result)
    assert no_id.startswith("Error:") and "MEMORY ID" in no_id
    assert nul.startswith("Error:") and "NUL" in nul
    (everything,) = await asearch_all(store, namespaces.user_root(user))
    assert everything == []


async def test_missing_user_is_refused(store, checkpointer, unique):
    model = scripted(tool_call("manage_memory", content="orphan"), "Noted.")
    with pytest.raises(MissingIdentityError):
        await agent(model, store, checkpointer).ainvoke(said("hi"), thread_config(unique("t")))


def test_the_model_cannot_choose_the_namespace():
    fields = {
        t.name: set(t.tool_call_schema.model_json_schema()["properties"]) for t in SCHEMA_TOOLS
    }
    assert fields == {
        "manage_memory": {"content", "action", "id"},
        "search_memory": {"query", "limit", "offset", "filter"},
    }


async def test_served_graph_without_api_key_names_it(store, checkpointer, unique, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    served = graph.copy(update={"store": store, "checkpointer": checkpointer})
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        await served.ainvoke(
            said("hi"), thread_config(unique("t")), context={"user_id": unique("u")}
        )
