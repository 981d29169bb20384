"""The LangMem cast on both backends: LangMem's tools in the user's namespace, across threads."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from casts.langmem_memory.graph import LangMemGraph, graph
from casts.langmem_memory.modules.tools import SCHEMA_TOOLS
from casts.memory import namespaces
from casts.memory.core.errors import ConfigurationError, MissingIdentityError
from casts.memory.settings import Settings, using
from casts.memory.store.reading import asearch_all
from tests.conversation import said, thread_config, tool_replies
from tests.dev_server import PROJECT, running_dev_server
from tests.fake_models import scripted, tool_call

EXTRA = "memory-casts[langmem]"
BLOCK_LANGMEM = "import sys\nsys.modules['langmem'] = None  # as if it were not installed\n"


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


async def test_served_graph_without_api_key_names_it(store, checkpointer, unique):
    served = graph.copy(update={"store": store, "checkpointer": checkpointer})
    with using(Settings.from_env({})), pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        await served.ainvoke(
            said("hi"), thread_config(unique("t")), context={"user_id": unique("u")}
        )


def without_langmem(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python processes cannot import LangMem (a ``sitecustomize``)."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_LANGMEM)
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_without_langmem_the_graph_imports_and_a_run_names_the_extra(tmp_path):
    script = """
import asyncio
from langgraph.store.memory import InMemoryStore
from casts.langmem_memory.graph import graph
from casts.memory.core.errors import ConfigurationError

try:
    import langmem
except ImportError:
    print("langmem blocked")

async def main():
    served = graph.copy(update={"store": InMemoryStore()})
    try:
        await served.ainvoke({"messages": [("user", "hi")]}, context={"user_id": "ada"})
    except ConfigurationError as error:
        print("refused:", error)

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=without_langmem(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "langmem blocked" in done.stdout
    assert "refused: The langmem_memory graph needs LangMem" in done.stdout, done.stdout
    assert EXTRA in done.stdout


@pytest.mark.server
@pytest.mark.slow
async def test_the_server_serves_without_langmem(tmp_path):
    env = {**without_langmem(tmp_path), "MEMORY_BACKEND": "memory", "OPENAI_API_KEY": ""}
    with running_dev_server(env, tmp_path) as url:
        client = get_client(url=url)
        served = {a["graph_id"] for a in await client.assistants.search(limit=50)}
        assert served == set(json.loads((PROJECT / "langgraph.json").read_text())["graphs"])
        refused = await client.runs.wait(
            (await client.threads.create())["thread_id"],
            "langmem_memory",
            input={"messages": [{"role": "user", "content": "hi"}]},
            context={"user_id": "ada"},
            raise_error=False,
        )
        assert refused["__error__"]["error"] == "ConfigurationError", refused
        assert EXTRA in refused["__error__"]["message"], refused
