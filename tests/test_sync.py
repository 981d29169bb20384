"""Sync code works too, on both backends: sync scripts, sync nodes, sync memory operations.

- A sync script (a real subprocess, no event loop of its own) opens the configured store and
  checkpointer with ``open_store_sync`` / ``open_checkpointer_sync``, builds casts and
  ``invoke`` s them: the user-profile cast (async nodes) and a cast of sync nodes.
- Sync ``BaseNode`` s that read and write ``runtime.store`` work under ``invoke``,
  ``ainvoke`` and a real ``langgraph dev``.
- Sync store calls and ``run_sync`` on an event loop's own thread are refused the same way
  on both backends (on PostgreSQL they could never finish).
- The LLM casts' tools (written once, async) run under ``invoke`` too: the memory agent
  remembers across threads, and every cast's tools read and write the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain.agents import create_agent
from langgraph_sdk import get_client

from casts.knowledge.modules.tools import KNOWLEDGE_TOOLS
from casts.memory import namespaces
from casts.memory.core.context import MemoryContext
from casts.memory.core.errors import InvalidValueError, StoreUnavailableError
from casts.memory.kinds.knowledge import add_facts, list_facts
from casts.memory.kinds.memories import memory_key, recall_memories, remember
from casts.memory.kinds.profiles import read_profile
from casts.memory.kinds.scratch import read_scratch, write_scratch
from casts.memory.kinds.workspace import create_team, read_workspace, write_workspace
from casts.memory.settings import Settings
from casts.memory.store.blocking import BlockingCallError, run_sync
from casts.memory.store.persistence import open_checkpointer_sync, open_store, open_store_sync
from casts.memory.tools import PROFILE_TOOLS
from casts.memory_agent.graph import MemoryAgentGraph
from casts.session_scratch.modules.tools import SCRATCH_TOOLS
from casts.team_workspace.modules.tools import WORKSPACE_TOOLS
from casts.user_profile.graph import UserProfileGraph
from tests.conftest import TEST_EMBEDDINGS
from tests.conversation import said, thread_config, tool_replies
from tests.dev_server import PROJECT, serving
from tests.fake_models import recording, scripted, system_prompt, tool_call
from tests.sync_cast import SyncNotesGraph

SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    from casts.memory import namespaces
    from casts.memory.store.blocking import run_sync
    from casts.memory.store.persistence import open_checkpointer_sync, open_store_sync
    from casts.memory.kinds.profiles import read_profile
    from casts.user_profile.graph import UserProfileGraph
    from tests.sync_cast import SyncNotesGraph

    user = sys.argv[1]
    with open_store_sync() as store, open_checkpointer_sync() as checkpointer:
        profiles = UserProfileGraph().build(store=store, checkpointer=checkpointer)
        notes = SyncNotesGraph().build(store=store, checkpointer=checkpointer)
        context = {"user_id": user}
        p1, p2, n1 = ({"configurable": {"thread_id": name}} for name in ("p1", "p2", "n1"))
        written = profiles.invoke({"set_fields": {"name": "Ada"}}, p1, context=context)
        note = notes.invoke({"note": "sync"}, n1, context=context)
        read = profiles.invoke({}, p2, context=context)
        again = notes.invoke({}, n1, context=context)
        state = notes.get_state(n1).values
        item = store.get(namespaces.user_profile(user), "name")
        profile = run_sync(read_profile, store, user)
    print(json.dumps({
        "written": written["changed"],
        "note": note,
        "read": read["profile"],
        "again": again,
        "checkpointed": state["last_note"],
        "item": [item.value["value"], item.value["updated_by_thread"]],
        "profile": profile.fields,
    }))
    """
)


def backend_env(backend: str, postgres_uri: str, tmp: Path) -> dict[str, str]:
    """The environment that makes ``Settings.from_env`` choose ``backend``."""
    env = {"MEMORY_BACKEND": backend, "MEMORY_DATA_DIR": str(tmp), **TEST_EMBEDDINGS}
    env["POSTGRES_URI"] = postgres_uri if backend == "postgres" else ""
    return env


def test_a_sync_script_opens_the_configured_store_and_invokes_casts(
    backend, postgres_uri, tmp_path, unique
):
    user = unique("script")
    script = tmp_path / "sync_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    env |= backend_env(backend, postgres_uri, tmp_path)
    done = subprocess.run(
        [sys.executable, str(script), user],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "written": ["fields.name"],
        "note": {"last_note": "sync", "profile": {"name": "Ada", "note": "sync"}},
        "read": {"name": "Ada", "note": "sync"},
        "again": {"last_note": "sync", "profile": {"name": "Ada", "note": "sync"}},
        "checkpointed": "sync",
        "item": ["Ada", "p1"],  # the run's thread reached the async node under invoke
        "profile": {"name": "Ada", "note": "sync"},
    }


@pytest.mark.postgres
def test_what_a_sync_script_wrote_is_in_postgresql(postgres_uri, tmp_path, unique):
    user = unique("kept")
    settings = Settings.from_env(backend_env("postgres", postgres_uri, tmp_path))
    with open_store_sync(settings) as store:
        UserProfileGraph().build(store=store).invoke(
            {"set_fields": {"city": "Oslo"}}, context={"user_id": user}
        )
    with open_store_sync(settings) as reopened:
        assert run_sync(read_profile, reopened, user).fields == {"city": "Oslo"}


def test_sync_nodes_use_the_store_under_invoke(settings, unique):
    user = unique("invoke")
    with open_store_sync(settings) as store, open_checkpointer_sync(settings) as checkpointer:
        graph = SyncNotesGraph().build(store=store, checkpointer=checkpointer)
        written = graph.invoke(
            {"note": "hi"}, thread_config(unique("t1")), context={"user_id": user}
        )
        read = graph.invoke({}, thread_config(unique("t2")), context={"user_id": user})
        stored = store.get(namespaces.user_preferences(user), "last_note")
    assert written == {"last_note": "hi", "profile": {"note": "hi"}}
    assert read == {"last_note": "hi", "profile": {"note": "hi"}}
    assert stored is not None and stored.value["value"] == "hi"


def test_every_kind_of_memory_operation_runs_from_sync_code(settings, unique):
    """One bridge, ``run_sync``, serves every memory module; errors come through unchanged."""
    user, team, session = unique("ops"), unique("team"), unique("session")
    with open_store_sync(settings) as store:
        kept = run_sync(remember, store, user, "Ada prefers green tea")
        found = run_sync(recall_memories, store, user, "green tea")
        run_sync(
            add_facts,
            store,
            user,
            "tea",
            [{"content": "Green tea has caffeine", "source": "a test", "confidence": 0.9}],
        )
        facts = run_sync(list_facts, store, user, "tea")
        run_sync(create_team, store, team, user)
        run_sync(write_workspace, store, team, user, {"plan": {"goal": "ship"}})
        workspace = run_sync(read_workspace, store, team, user)
        run_sync(write_scratch, store, user, session, {"draft": {"text": "hello"}})
        scratch = run_sync(read_scratch, store, user, session)
        with pytest.raises(InvalidValueError) as refused:
            run_sync(remember, store, user, "")
        memories = store.search(namespaces.user_memories(user))
    assert [item.key for item in found] == [kept.key]
    assert [stored.fact.content for stored in facts] == ["Green tea has caffeine"]
    assert workspace.entries["plan"]["value"] == {"goal": "ship"}
    assert scratch["draft"]["data"] == {"text": "hello"}
    assert refused.value.field == "memory.content"
    assert [item.key for item in memories] == [kept.key]  # the refused write left nothing


def test_the_memory_agent_remembers_across_threads_under_invoke(settings, unique):
    """Its ToolNode calls the tools synchronously; they used to be async only."""
    user = unique("ada")
    model = recording(
        tool_call("remember_fact", content="Ada is allergic to peanuts"),
        "Noted.",
        "You are allergic to peanuts.",
    )
    with open_store_sync(settings) as store, open_checkpointer_sync(settings) as checkpointer:
        agent = MemoryAgentGraph(model=model).build(store=store, checkpointer=checkpointer)
        context = {"user_id": user}
        first = agent.invoke(
            said("Remember: peanuts"), thread_config(unique("t1")), context=context
        )
        second = agent.invoke(said("Allergies?"), thread_config(unique("t2")), context=context)
        stored = store.get(namespaces.user_memories(user), memory_key("Ada is allergic to peanuts"))
    key = memory_key("Ada is allergic to peanuts")
    assert tool_replies(first) == [f'Remembered as new memory {key}: "Ada is allergic to peanuts".']
    assert "peanuts" not in system_prompt(model.received[0]).split("<memories>")[1]
    assert "Ada is allergic to peanuts" in system_prompt(model.received[2]).split("<memories>")[1]
    assert second["messages"][-1].content == "You are allergic to peanuts."
    assert stored is not None and stored.value["content"] == "Ada is allergic to peanuts"


def test_every_cast_s_tools_run_under_invoke(settings, unique):
    """Profile, knowledge, team workspace and scratch tools, and their refusals, under invoke."""
    user, team = unique("tools"), unique("team")
    model = scripted(
        tool_call("update_user_profile", field="name", value="Ada"),
        tool_call("get_user_profile"),
        tool_call(
            "add_fact",
            topic="tea",
            content="Green tea has caffeine",
            source="a book",
            confidence=0.9,
        ),
        tool_call("add_fact", topic="tea", content="Bad", source="a book", confidence=2),
        tool_call("list_knowledge", topic="tea"),
        tool_call("write_team_workspace", key="plan", value={"goal": "ship"}),
        tool_call("read_team_workspace", key="plan"),
        tool_call("save_scratch", key="draft", data={"text": "hello"}),
        tool_call("read_session_scratch"),
        "done",
    )
    tools = [*PROFILE_TOOLS, *KNOWLEDGE_TOOLS, *WORKSPACE_TOOLS, *SCRATCH_TOOLS]
    with open_store_sync(settings) as store, open_checkpointer_sync(settings) as checkpointer:
        run_sync(create_team, store, team, user)
        agent = create_agent(
            model, tools, context_schema=MemoryContext, store=store, checkpointer=checkpointer
        )
        out = agent.invoke(
            said("go"),
            thread_config(unique("t")),
            context=MemoryContext(user_id=user, team_id=team, session_id="s1"),
        )
        profile = run_sync(read_profile, store, user)
        facts = run_sync(list_facts, store, user, "tea")
        workspace = run_sync(read_workspace, store, team, user)
        scratch = run_sync(read_scratch, store, user, "s1")
    replies = tool_replies(out)
    assert '"name": "Ada"' in replies[1]
    assert "Green tea has caffeine" in replies[2]
    assert replies[3].startswith("Error: claims[0].confidence")  # refused, told to the model
    assert [fact["content"] for fact in json.loads(replies[4])["facts"]] == [
        "Green tea has caffeine"
    ]
    assert replies[5] == "Saved workspace entry 'plan'."
    assert json.loads(replies[6])["plan"]["value"] == {"goal": "ship"}
    assert json.loads(replies[8]) == {"draft": {"text": "hello"}}
    assert profile.fields == {"name": "Ada"}
    assert [stored.fact.content for stored in facts] == ["Green tea has caffeine"]
    assert workspace.entries["plan"]["value"] == {"goal": "ship"}
    assert scratch["draft"]["data"] == {"text": "hello"}


async def test_sync_nodes_use_the_store_under_ainvoke(store, checkpointer, unique):
    user = unique("ainvoke")
    graph = SyncNotesGraph().build(store=store, checkpointer=checkpointer)
    written = await graph.ainvoke(
        {"note": "hello"}, thread_config(unique("t1")), context={"user_id": user}
    )
    read = await graph.ainvoke({}, thread_config(unique("t2")), context={"user_id": user})
    assert written == {"last_note": "hello", "profile": {"note": "hello"}}
    assert read == written
    assert (await read_profile(store, user)).fields == {"note": "hello"}


async def test_invoke_on_the_event_loop_thread_is_refused_on_every_backend(store, unique):
    """A sync node run by ``invoke`` inside async code would block the loop the store needs:
    PostgreSQL raised ``InvalidStateError`` while InMemoryStore let it pass."""
    user = unique("blocked")
    graph = SyncNotesGraph().build(store=store)
    with pytest.raises(BlockingCallError, match="event loop"):
        graph.invoke({"note": "never"}, context={"user_id": user})
    with pytest.raises(BlockingCallError, match="event loop"):
        run_sync(read_profile, store, user)
    assert await store.aget(namespaces.user_preferences(user), "last_note") is None


async def test_open_store_sync_is_refused_inside_async_code(settings):
    with pytest.raises(BlockingCallError, match="open_store_sync"), open_store_sync(settings):
        pass  # pragma: no cover - never reached
    async with open_store(settings) as store:  # the async way still works here
        assert await store.aget(("user", "nobody"), "k") is None


@pytest.mark.server
@pytest.mark.slow
async def test_sync_nodes_use_the_store_under_langgraph_dev(
    backend, postgres_uri, tmp_path, unique
):
    config = json.loads((PROJECT / "langgraph.json").read_text())
    config["env"] = {}
    config["graphs"] = {"sync_notes": "./tests/sync_cast.py:graph"}
    path = PROJECT / f".langgraph.test-sync-{tmp_path.name}.json"
    path.write_text(json.dumps(config))
    user = unique("served")
    env = {"PYTHONPATH": str(PROJECT), "OPENAI_API_KEY": ""}
    env |= backend_env(backend, postgres_uri, tmp_path)
    try:
        with serving(path, env, cwd=PROJECT, log_dir=tmp_path) as url:
            client = get_client(url=url)
            first, second = await client.threads.create(), await client.threads.create()
            written = await client.runs.wait(
                first["thread_id"],
                "sync_notes",
                input={"note": "served"},
                context={"user_id": user},
            )
            read = await client.runs.wait(
                second["thread_id"], "sync_notes", input={}, context={"user_id": user}
            )
            item = await client.store.get_item(list(namespaces.user_preferences(user)), "last_note")
    finally:
        path.unlink(missing_ok=True)
    assert written == {"last_note": "served", "profile": {"note": "served"}}
    assert read == written
    assert item["value"]["value"] == "served"


@pytest.mark.parametrize("opener", [open_store_sync, open_checkpointer_sync])
def test_an_unreachable_postgres_is_a_clear_error_from_sync_code(opener, tmp_path):
    settings = Settings.from_env(
        {
            "POSTGRES_URI": "postgresql://user:secret@127.0.0.1:1/nowhere",
            "MEMORY_CONNECT_TIMEOUT": "1",
            "MEMORY_DATA_DIR": str(tmp_path),
        }
    )
    with pytest.raises(StoreUnavailableError) as caught, opener(settings):
        pass  # pragma: no cover - never reached
    assert "127.0.0.1:1" in str(caught.value)
    assert "secret" not in str(caught.value)
