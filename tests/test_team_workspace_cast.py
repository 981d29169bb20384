"""The team-workspace cast on both backends: shared across users, members only."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage

from casts.memory import namespaces
from casts.memory.context import MemoryContext
from casts.memory.errors import AccessDeniedError, InvalidValueError, MissingIdentityError
from casts.memory.queries import asearch_all
from casts.memory.workspace import read_workspace
from casts.team_workspace.graph import TeamWorkspaceGraph
from casts.team_workspace.modules.tools import WORKSPACE_TOOLS
from tests.conversation import thread_config
from tests.fake_models import scripted, tool_call


@pytest.fixture
def graph(store, checkpointer):
    return TeamWorkspaceGraph().build(store=store, checkpointer=checkpointer)


async def team_of(graph, unique, owner: str, *members: str) -> str:
    team = unique("team")
    await graph.ainvoke(
        {"action": "create"},
        thread_config(unique("t")),
        context={"user_id": owner, "team_id": team},
    )
    for member in members:
        await graph.ainvoke(
            {"action": "add_member", "member_id": member},
            thread_config(unique("t")),
            context={"user_id": owner, "team_id": team},
        )
    return team


async def test_two_members_share_entries_across_threads(graph, unique):
    ada, bo = unique("ada"), unique("bo")
    team = await team_of(graph, unique, ada, bo)
    written = await graph.ainvoke(
        {"action": "write", "set_entries": {"status": {"phase": "beta", "blockers": 0}}},
        thread_config(unique("ada-thread")),
        context={"user_id": ada, "team_id": team},
    )
    assert written["changed"] == ["status"]
    seen = await graph.ainvoke(
        {"action": "read"},
        thread_config(unique("bo-thread")),
        context={"user_id": bo, "team_id": team},
    )
    assert seen["entries"]["status"]["value"] == {"phase": "beta", "blockers": 0}
    assert seen["entries"]["status"]["updated_by"] == ada
    assert seen["entries"]["status"]["updated_at"]
    assert seen["members"][ada]["role"] == "owner"
    assert seen["members"][bo] == {**seen["members"][bo], "role": "member", "added_by": ada}

    await graph.ainvoke(
        {"action": "write", "set_entries": {"status": {"phase": "ga"}}},
        thread_config(unique("bo-thread")),
        context={"user_id": bo, "team_id": team},
    )
    again = await graph.ainvoke(
        {"action": "read"}, thread_config(unique("t")), context={"user_id": ada, "team_id": team}
    )
    assert again["entries"]["status"]["value"] == {"phase": "ga"}
    assert again["entries"]["status"]["updated_by"] == bo


async def test_outsider_is_refused_for_read_and_write_and_nothing_is_written(graph, store, unique):
    ada, eve = unique("ada"), unique("eve")
    team = await team_of(graph, unique, ada)
    before = await read_workspace(store, team, ada)
    outsider = {"user_id": eve, "team_id": team}
    with pytest.raises(AccessDeniedError, match="not a member"):
        await graph.ainvoke({"action": "read"}, thread_config(unique("t")), context=outsider)
    with pytest.raises(AccessDeniedError, match="not a member"):
        await graph.ainvoke(
            {"action": "write", "set_entries": {"status": {"hacked": True}}},
            thread_config(unique("t")),
            context=outsider,
        )
    with pytest.raises(AccessDeniedError):
        await graph.ainvoke(
            {"action": "add_member", "member_id": eve}, thread_config(unique("t")), context=outsider
        )
    with pytest.raises(AccessDeniedError, match="already exists"):
        await graph.ainvoke({"action": "create"}, thread_config(unique("t")), context=outsider)
    (entries, members) = await asearch_all(
        store, namespaces.team_workspace(team), namespaces.team_members(team)
    )
    assert entries == []
    assert {item.key for item in members} == set(before.members) == {ada}


async def test_only_owners_manage_members_and_removed_members_lose_access(graph, store, unique):
    ada, bo, cy = unique("ada"), unique("bo"), unique("cy")
    team = await team_of(graph, unique, ada, bo)
    with pytest.raises(AccessDeniedError, match="not an owner"):
        await graph.ainvoke(
            {"action": "add_member", "member_id": cy},
            thread_config(unique("t")),
            context={"user_id": bo, "team_id": team},
        )
    removed = await graph.ainvoke(
        {"action": "remove_member", "member_id": bo},
        thread_config(unique("t")),
        context={"user_id": ada, "team_id": team},
    )
    assert removed["changed"] == [f"members.{bo}"]
    assert set(removed["members"]) == {ada}
    with pytest.raises(AccessDeniedError):
        await graph.ainvoke(
            {"action": "read"}, thread_config(unique("t")), context={"user_id": bo, "team_id": team}
        )
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"action": "remove_member", "member_id": ada},
            thread_config(unique("t")),
            context={"user_id": ada, "team_id": team},
        )
    assert caught.value.field == "member_id"


async def test_bad_entry_names_the_field_and_writes_nothing(graph, store, unique):
    ada = unique("ada")
    team = await team_of(graph, unique, ada)
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"action": "write", "set_entries": {"ok": {"a": 1}, "bad": "not an object"}},
            thread_config(unique("t")),
            context={"user_id": ada, "team_id": team},
        )
    assert caught.value.field.startswith("entries.bad")
    (entries,) = await asearch_all(store, namespaces.team_workspace(team))
    assert entries == []


async def test_missing_team_is_refused(graph, unique):
    with pytest.raises(MissingIdentityError):
        await graph.ainvoke(
            {"action": "read"}, thread_config(unique("t")), context={"user_id": unique("a")}
        )


async def test_request_is_not_replayed_on_the_same_thread(graph, store, unique):
    ada, thread = unique("ada"), unique("thread")
    team = await team_of(graph, unique, ada)
    context = {"user_id": ada, "team_id": team}
    await graph.ainvoke(
        {"action": "write", "set_entries": {"note": {"n": 1}}},
        thread_config(thread),
        context=context,
    )
    await graph.ainvoke(
        {"action": "write", "remove_entries": ["note"]},
        thread_config(unique("other")),
        context=context,
    )
    again = await graph.ainvoke({"action": "read"}, thread_config(thread), context=context)
    assert again["entries"] == {}
    assert again["changed"] == []


async def test_agent_tools_respect_membership(store, checkpointer, unique, graph):
    ada, eve = unique("ada"), unique("eve")
    team = await team_of(graph, unique, ada)

    def agent(*messages):
        return create_agent(
            scripted(*messages),
            WORKSPACE_TOOLS,
            context_schema=MemoryContext,
            store=store,
            checkpointer=checkpointer,
        )

    member = agent(
        tool_call("write_team_workspace", key="decision", value={"db": "postgres"}),
        tool_call("read_team_workspace", key="decision"),
        "ok",
    )
    out = await member.ainvoke(
        {"messages": [("user", "note it")]},
        thread_config(unique("member-thread")),
        context=MemoryContext(user_id=ada, team_id=team),
    )
    results = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert results[0] == "Saved workspace entry 'decision'."
    assert '"db": "postgres"' in results[1]

    outsider = agent(
        tool_call("write_team_workspace", key="decision", value={"db": "mongo"}),
        tool_call("read_team_workspace"),
        "ok",
    )
    out = await outsider.ainvoke(
        {"messages": [("user", "change it")]},
        thread_config(unique("outsider-thread")),
        context=MemoryContext(user_id=eve, team_id=team),
    )
    results = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert len(results) == 2, results
    assert all(r.startswith("Error:") and "not a member" in r for r in results), results
    workspace = await read_workspace(store, team, ada)
    assert workspace.entries["decision"]["value"] == {"db": "postgres"}
