"""The session-scratch cast on both backends: per-session data, TTL, end and cleanup."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage
from langgraph.store.base import PutOp

from casts.memory import namespaces
from casts.memory.core.context import MemoryContext
from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError, MissingIdentityError
from casts.memory.core.records import utc_now
from casts.memory.kinds.scratch import cleanup_older_than, end_session, read_scratch, write_scratch
from casts.memory.store.reading import asearch_all
from casts.session_scratch.graph import SessionScratchGraph
from casts.session_scratch.modules.tools import SCRATCH_TOOLS
from tests.conversation import thread_config
from tests.expiry import ONE_SECOND_IN_MINUTES, sweep_until_gone
from tests.fake_models import scripted, tool_call


@pytest.fixture
def graph(store, checkpointer):
    return SessionScratchGraph().build(store=store, checkpointer=checkpointer)


async def count(store, prefix) -> int:
    (items,) = await asearch_all(store, prefix)
    return len(items)


async def test_session_data_is_shared_by_threads_of_one_session_only(graph, unique):
    user, session = unique("ada"), unique("session")
    written = await graph.ainvoke(
        {"action": "write", "set_entries": {"draft": {"text": "hello"}}},
        thread_config(unique("thread-a")),
        context={"user_id": user, "session_id": session},
    )
    assert written["changed"] == ["draft"]
    entry = written["entries"]["draft"]
    assert entry["data"] == {"text": "hello"}
    assert datetime.fromisoformat(entry["expires_at"]) > utc_now() + timedelta(hours=23)

    same_session = await graph.ainvoke(
        {"action": "read"},
        thread_config(unique("thread-b")),
        context={"user_id": user, "session_id": session},
    )
    assert same_session["entries"]["draft"]["data"] == {"text": "hello"}
    other_session = await graph.ainvoke(
        {"action": "read"}, thread_config(unique("thread-c")), context={"user_id": user}
    )
    assert other_session["entries"] == {}


async def test_session_defaults_to_the_thread(graph, unique):
    user, thread = unique("bo"), unique("thread")
    await graph.ainvoke(
        {"action": "write", "set_entries": {"n": {"v": 1}}},
        thread_config(thread),
        context={"user_id": user},
    )
    again = await graph.ainvoke(
        {"action": "read"}, thread_config(thread), context={"user_id": user}
    )
    assert again["entries"]["n"]["data"] == {"v": 1}
    assert again["changed"] == []
    elsewhere = await graph.ainvoke(
        {"action": "read"}, thread_config(unique("elsewhere")), context={"user_id": user}
    )
    assert elsewhere["entries"] == {}


async def test_end_deletes_every_page_of_the_session(graph, store, unique):
    user, thread = unique("cy"), unique("thread")
    entries = {f"k{n}": {"n": n} for n in range(30)}
    await graph.ainvoke(
        {"action": "write", "set_entries": entries},
        thread_config(thread),
        context={"user_id": user},
    )
    keep = await write_scratch(store, user, unique("other-session"), {"keep": {"x": 1}})
    ended = await graph.ainvoke({"action": "end"}, thread_config(thread), context={"user_id": user})
    assert ended["deleted"] == 30
    assert ended["entries"] == {}
    assert await count(store, namespaces.session_scratch(user, thread)) == 0
    assert keep == ["keep"]
    assert await count(store, namespaces.user_sessions(user)) == 1


async def test_end_deletes_thousands_written_in_one_batch(store, unique):
    user, session = unique("dy"), unique("session")
    entries = {f"k{n:05d}": {"n": n} for n in range(5000)}
    assert len(await write_scratch(store, user, session, entries)) == 5000  # one batch
    assert len(await read_scratch(store, user, session)) == 5000
    assert await end_session(store, user, session) == 5000
    assert await count(store, namespaces.session_scratch(user, session)) == 0


async def test_expired_entries_are_hidden_and_cleaned_up_on_every_backend(store, unique):
    """An entry written two hours ago with a one-hour TTL is past its ``expires_at``: reads
    leave it out and a cleanup deletes it, whether or not the backend swept it."""
    user, session = unique("ttl"), unique("session")
    namespace = namespaces.session_scratch(user, session)
    two_hours_ago = utc_now() - timedelta(hours=2)
    await write_scratch(
        store, user, session, {"brief": {"x": 1}}, ttl_minutes=60, now=two_hours_ago
    )
    await write_scratch(store, user, session, {"fresh": {"x": 2}}, ttl_minutes=60)
    assert list(await read_scratch(store, user, session)) == ["fresh"]
    assert await store.aget(namespace, "brief") is not None  # hidden, not yet deleted

    report = await cleanup_older_than(store, 30, prefix=namespaces.user_sessions(user))
    assert report.matched == [(namespace, "brief")]
    assert report.deleted == 1
    assert await store.aget(namespace, "brief") is None
    assert list(await read_scratch(store, user, session)) == ["fresh"]


async def test_the_backend_ttl_deletes_scratch_without_a_cleanup_job(store, unique):
    """PostgreSQL's sweeper deletes expired scratch by itself; InMemoryStore has no TTL, so
    there the entry stays stored until a cleanup deletes it (test above)."""
    user, session = unique("sweep"), unique("session")
    namespace = namespaces.session_scratch(user, session)
    await write_scratch(
        store, user, session, {"brief": {"x": 1}}, ttl_minutes=ONE_SECOND_IN_MINUTES
    )
    await write_scratch(store, user, session, {"keep": {"x": 2}})
    if store.supports_ttl:
        await sweep_until_gone(store, namespace, "brief")
    else:
        assert (await store.aget(namespace, "brief")).value["data"] == {"x": 1}
    assert (await store.aget(namespace, "keep")).value["data"] == {"x": 2}


async def test_cleanup_reads_thousands_of_one_batch_and_compares_aware_times(store, unique):
    user = unique("bulk")
    prefix = namespaces.user_sessions(user)
    ops = [
        PutOp(namespaces.session_scratch(user, f"s{n % 7}"), f"k{n}", {"data": {"n": n}})
        for n in range(5000)
    ]
    await store.abatch(ops)
    await write_scratch(store, user, "short", {"soon": {"x": 1}}, ttl_minutes=1)
    memories = namespaces.user_memories(user)
    await store.aput(memories, "m", {"content": "not session data"})

    in_an_hour = utc_now() + timedelta(hours=1)
    expired_only = await cleanup_older_than(store, 7, prefix=prefix, now=in_an_hour)
    assert expired_only.matched == [(namespaces.session_scratch(user, "short"), "soon")]
    assert expired_only.scanned == 5001

    naive_in_two_days = (utc_now() + timedelta(days=2)).replace(tzinfo=None)
    dry = await cleanup_older_than(store, 1, prefix=prefix, now=naive_in_two_days, dry_run=True)
    assert len(set(dry.matched)) == len(dry.matched) == 5000
    assert dry.deleted == 0
    assert await count(store, prefix) == 5000

    done = await cleanup_older_than(store, 1, prefix=prefix, now=naive_in_two_days)
    assert done.deleted == 5000
    assert await count(store, prefix) == 0
    assert await store.aget(memories, "m") is not None


async def test_recent_data_survives_cleanup(store, unique):
    user = unique("fresh")
    await write_scratch(store, user, "s", {f"k{n}": {"n": n} for n in range(25)})
    report = await cleanup_older_than(store, 1, prefix=namespaces.user_sessions(user))
    assert report.matched == []
    assert report.scanned == 25
    assert await count(store, namespaces.user_sessions(user)) == 25


async def test_cleanup_refuses_anything_outside_sessions(store, unique):
    with pytest.raises(InvalidNamespaceError, match="session root"):
        await cleanup_older_than(store, 0, prefix=namespaces.user_root(unique("u")))
    with pytest.raises(InvalidValueError) as caught:
        await cleanup_older_than(store, -1)
    assert caught.value.field == "days"


async def test_bad_input_names_the_field_and_writes_nothing(graph, store, unique):
    user, thread = unique("eve"), unique("thread")
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"action": "write", "set_entries": {"ok": {"a": 1}}, "ttl_minutes": -5},
            thread_config(thread),
            context={"user_id": user},
        )
    assert caught.value.field == "ttl_minutes"
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"action": "write", "set_entries": {"ok": {"a": 1}, "bad": ["not", "an", "object"]}},
            thread_config(thread),
            context={"user_id": user},
        )
    assert caught.value.field.startswith("entries.bad")
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke({"action": "wipe"}, thread_config(thread), context={"user_id": user})
    assert caught.value.field == "action"
    with pytest.raises(MissingIdentityError):
        await graph.ainvoke({"action": "read"}, thread_config(thread))
    assert await count(store, namespaces.user_sessions(user)) == 0


async def test_agent_tools_keep_data_for_the_session(store, checkpointer, unique):
    user, thread = unique("agent"), unique("thread")
    agent = create_agent(
        scripted(
            tool_call("save_scratch", key="plan", data={"step": 1}),
            tool_call("save_scratch", key="bad", data={"x": 1}, ttl_minutes=0),
            tool_call("read_session_scratch"),
            "ok",
        ),
        SCRATCH_TOOLS,
        context_schema=MemoryContext,
        store=store,
        checkpointer=checkpointer,
    )
    out = await agent.ainvoke(
        {"messages": [("user", "plan")]}, thread_config(thread), context=MemoryContext(user_id=user)
    )
    results = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert results[0] == "Saved scratch entry 'plan'."
    assert results[1].startswith("Error: ttl_minutes")
    assert results[2] == '{"plan": {"step": 1}}'
    assert list(await read_scratch(store, user, thread)) == ["plan"]
