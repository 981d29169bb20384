"""The team-workspace cast on both backends: shared across users, members only.

Runs "under auth" carry the user the way the server passes it to a run
(``configurable["langgraph_auth_user"]``: an object with ``identity`` and dict access to
what the auth handler returned, ``teams`` included); tests/test_auth.py does the same
through a real ``langgraph dev``.
"""

from __future__ import annotations

import asyncio

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage

from casts.memory import namespaces
from casts.memory.core.context import MemoryContext
from casts.memory.core.errors import AccessDeniedError, InvalidValueError, MissingIdentityError
from casts.memory.kinds.workspace import read_workspace
from casts.memory.store.reading import asearch_all
from casts.team_workspace.graph import TeamWorkspaceGraph
from casts.team_workspace.modules.tools import WORKSPACE_TOOLS
from tests.conversation import authenticated, thread_config
from tests.fake_models import scripted, tool_call

RACES = 20


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


async def roster(store, team: str) -> dict[str, str]:
    (members,) = await asearch_all(store, namespaces.team_members(team))
    return {item.key: item.value["role"] for item in members}


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


async def test_under_auth_only_the_token_decides_who_acts_in_a_team(graph, store, unique):
    ada, bo, mallory = unique("ada"), unique("bo"), unique("mallory")
    team, other = unique("t1"), unique("t2")
    as_ada = {"user_id": ada, "team_id": team}
    # A token listing only t2 cannot create t1, even before anybody else has.
    with pytest.raises(AccessDeniedError, match="token does not list"):
        await graph.ainvoke(
            {"action": "create"},
            authenticated(unique("t"), mallory, other),
            context={"team_id": team},
        )
    assert await roster(store, team) == {}
    await graph.ainvoke({"action": "create"}, authenticated(unique("t"), ada, team), context=as_ada)
    # An owner adding mallory to the roster gives a role, not access beyond the token.
    await graph.ainvoke(
        {"action": "add_member", "member_id": mallory},
        authenticated(unique("t"), ada, team),
        context=as_ada,
    )
    for request in (
        {"action": "read"},
        {"action": "write", "set_entries": {"status": {"hacked": True}}},
        {"action": "create"},
        {"action": "add_member", "member_id": mallory, "role": "owner"},
    ):
        with pytest.raises(AccessDeniedError, match="not a member"):
            await graph.ainvoke(
                request, authenticated(unique("t"), mallory, other), context={"team_id": team}
            )
    # A token member never added to the roster reads and writes, as themselves.
    written = await graph.ainvoke(
        {"action": "write", "set_entries": {"status": {"phase": "beta"}}},
        authenticated(unique("t"), bo, team),
        context={"team_id": team},
    )
    assert written["entries"]["status"]["updated_by"] == bo
    assert await roster(store, team) == {ada: "owner", mallory: "member"}
    with pytest.raises(AccessDeniedError, match="not an owner"):
        await graph.ainvoke(
            {"action": "remove_member", "member_id": mallory},
            authenticated(unique("t"), bo, team),
            context={"team_id": team},
        )
    # Creating a team that exists, as a member, changes nothing.
    again = await graph.ainvoke(
        {"action": "create"}, authenticated(unique("t"), bo, team), context={"team_id": team}
    )
    assert again["changed"] == []
    assert await roster(store, team) == {ada: "owner", mallory: "member"}


@pytest.mark.parametrize("authenticate", [False, True], ids=["no-auth", "auth"])
async def test_two_users_creating_one_team_at_once_give_exactly_one_owner(
    graph, store, unique, authenticate
):
    ada, bo = unique("ada"), unique("bo")
    for race in range(RACES):
        team = unique(f"race{race}")

        def config(user: str, team: str = team) -> dict:
            thread = unique("t")
            return authenticated(thread, user, team) if authenticate else thread_config(thread)

        outcomes = await asyncio.gather(
            *(
                graph.ainvoke(
                    {"action": "create"}, config(user), context={"user_id": user, "team_id": team}
                )
                for user in (ada, bo)
            ),
            return_exceptions=True,
        )
        owners = [user for user, role in (await roster(store, team)).items() if role == "owner"]
        assert len(owners) == 1, (race, owners, outcomes)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if authenticate:  # both belong by their token; the second creation is a no-op
            assert failed == [], failed
            assert sorted(len(o["changed"]) for o in outcomes) == [0, 1], outcomes
        else:  # the one who came second is not in the roster
            assert len(failed) == 1 and isinstance(failed[0], AccessDeniedError), outcomes
