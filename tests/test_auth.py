"""Auth on a real `langgraph dev`: bearer tokens, thread ownership, runs that act as the
caller, and the HTTP store API limited to the caller's own, team and (read-only) global
namespaces. Users: alice (team t1), bob (no team), carol (t1 by her token, never added to
the team's roster in the store) and mallory (t2 only). One server for the module."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
import pytest
from langgraph_sdk import get_client

from casts.memory import namespaces
from casts.memory.auth.tokens import load_tokens, parse_tokens
from casts.memory.core.errors import ConfigurationError
from casts.memory.core.records import utc_now
from casts.memory.settings import Settings
from tests.conftest import TEST_EMBEDDINGS
from tests.dev_server import PROJECT, running_dev_server

GRAPHS = sorted(json.loads((PROJECT / "langgraph.json").read_text())["graphs"])
RUN = uuid.uuid4().hex[:8]
ALICE, BOB = f"alice.{RUN}@example.com", f"bob.{RUN}@example.com"
CAROL, MALLORY = f"carol.{RUN}@example.com", f"mallory.{RUN}@example.com"
TEAM, OTHER_TEAM, NEW_TEAM = f"t1.{RUN}", f"t2.{RUN}", f"t3.{RUN}"
RACE_TEAMS = [f"race{i}.{RUN}" for i in range(20)]
JOBS_PER_WORKER = 10  # runs at once, as a deployment would
CREATORS_EACH = 2  # runs per user and race, all in flight at once
ALICE_TOKEN, BOB_TOKEN = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
CAROL_TOKEN, MALLORY_TOKEN = secrets.token_urlsafe(24), secrets.token_urlsafe(24)

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str]
) -> Iterator[str]:
    """One `langgraph dev` with four users configured through MEMORY_AUTH_TOKENS."""
    tokens = {
        ALICE_TOKEN: {"user": ALICE, "teams": [TEAM, NEW_TEAM, *RACE_TEAMS]},
        BOB_TOKEN: {"user": BOB},
        CAROL_TOKEN: {"user": CAROL, "teams": [TEAM, *RACE_TEAMS]},
        MALLORY_TOKEN: {"user": MALLORY, "teams": [OTHER_TEAM]},
    }
    env = {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": database_factory(),
        "OPENAI_API_KEY": "",
        "MEMORY_AUTH_TOKENS": json.dumps(tokens),
        **TEST_EMBEDDINGS,
    }
    directory = tmp_path_factory.mktemp("auth-server")
    with running_dev_server(env, directory, jobs_per_worker=JOBS_PER_WORKER) as url:
        yield url


def client_for(url: str, token: str | None = None, **headers: str):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return get_client(url=url, api_key=None, headers=headers)


@pytest.fixture
def alice(server):
    return client_for(server, ALICE_TOKEN)


@pytest.fixture
def bob(server):
    return client_for(server, BOB_TOKEN)


@pytest.fixture
def carol(server):
    return client_for(server, CAROL_TOKEN)


@pytest.fixture
def mallory(server):
    return client_for(server, MALLORY_TOKEN)


async def status_of(call) -> int:
    """The HTTP status a refused SDK call got (fails the test if the call succeeded)."""
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await call
    return caught.value.response.status_code


def memories(user: str) -> list[str]:
    return list(namespaces.user_memories(user))


# --- token table (no server) -------------------------------------------------------------


def test_token_table_from_env_or_file(tmp_path):
    table = parse_tokens(json.dumps({"tok": {"user": "a.b", "teams": ["x"]}}), source="test")
    principal = table.lookup("tok")
    assert principal is not None and principal.user_id == "a.b" and principal.teams == {"x"}
    assert table.lookup("to") is None and table.lookup("tok ") is None

    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"ftok": {"user": "c"}}))
    from_file = load_tokens(Settings.from_env({"MEMORY_AUTH_FILE": str(path)}))
    assert from_file.enabled and from_file.lookup("ftok").user_id == "c"
    assert not load_tokens(Settings.from_env({})).enabled


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEMORY_AUTH_TOKENS": "{not json"}, "not valid JSON"),
        ({"MEMORY_AUTH_TOKENS": '{"t": {"teams": []}}'}, "'user'"),
        ({"MEMORY_AUTH_TOKENS": '{"t": {"user": "a", "teams": "t1"}}'}, "'teams'"),
        ({"MEMORY_AUTH_TOKENS": '{"t": {"user": "a", "role": "x"}}'}, "unknown field"),
        ({"MEMORY_AUTH_TOKENS": '{"t": {"user": "a"}}', "MEMORY_AUTH_FILE": "f"}, "not both"),
        ({"MEMORY_AUTH_FILE": "/nonexistent/tokens.json"}, "cannot be read"),
    ],
)
def test_bad_token_tables_are_refused_naming_the_problem(env, message):
    with pytest.raises(ConfigurationError, match=message):
        load_tokens(Settings.from_env(env))


# --- authentication ----------------------------------------------------------------------


async def test_every_request_needs_a_valid_bearer_token(server):
    anonymous = client_for(server)
    wrong = client_for(server, secrets.token_urlsafe(24))
    studio_header = client_for(server, **{"x-auth-scheme": "langsmith"})
    for client in (anonymous, wrong, studio_header):
        assert await status_of(client.threads.create()) == 401
        assert await status_of(client.assistants.search()) == 401
        assert await status_of(client.store.get_item(memories(ALICE), key="k")) == 401
        assert await status_of(client.store.list_namespaces()) == 401
    basic = httpx.post(f"{server}/threads", json={}, headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    assert httpx.post(f"{server}/threads", json={}).status_code == 401
    assert httpx.get(f"{server}/ok").status_code == 200  # health checks stay open


# --- the HTTP store API ------------------------------------------------------------------


async def test_own_namespaces_work_with_every_store_verb(alice):
    own = memories(ALICE)
    session = list(namespaces.session_scratch(ALICE, "s1"))
    for namespace in (own, session):
        await alice.store.put_item(namespace, "k", {"content": "mine"})
        assert (await alice.store.get_item(namespace, "k"))["value"] == {"content": "mine"}
        found = await alice.store.search_items(namespace)
        assert [item["key"] for item in found["items"]] == ["k"]
    listed = (await alice.store.list_namespaces(prefix=list(namespaces.user_root(ALICE))))[
        "namespaces"
    ]
    assert own in [list(ns) for ns in listed]
    sessions = (await alice.store.list_namespaces(prefix=["session"]))["namespaces"]
    assert [list(ns) for ns in sessions] == [session]
    await alice.store.delete_item(own, "k")
    assert await alice.store.get_item(own, "k") is None


async def test_every_store_verb_on_another_users_namespace_is_refused(alice, bob):
    theirs = memories(ALICE)
    await alice.store.put_item(theirs, "secret", {"content": "alice only"})
    alice_session = list(namespaces.session_scratch(ALICE, "s1"))
    for namespace in (theirs, alice_session, list(namespaces.user_root(ALICE))):
        assert await status_of(bob.store.put_item(namespace, "k", {"content": "x"})) == 403
        assert await status_of(bob.store.get_item(namespace, "secret")) == 403
        assert await status_of(bob.store.search_items(namespace)) == 403
        assert await status_of(bob.store.delete_item(namespace, "secret")) == 403
        assert await status_of(bob.store.list_namespaces(prefix=namespace)) == 403
    # Another spelling of alice's label (a decoded '.') is not accepted either.
    spelled = ["user", ALICE.replace(".", "%2e"), "memories"]
    assert await status_of(bob.store.get_item(spelled, "secret")) == 403
    assert (await alice.store.get_item(theirs, "secret"))["value"] == {"content": "alice only"}


async def test_wide_searches_and_listings_show_only_the_callers_data(alice, bob):
    await alice.store.put_item(memories(ALICE), "a1", {"content": "alice"})
    await bob.store.put_item(memories(BOB), "b1", {"content": "bob"})
    for prefix in ([], ["user"]):
        found = (await bob.store.search_items(prefix, limit=100))["items"]
        assert {tuple(item["namespace"]) for item in found} == {tuple(memories(BOB))}
    listed = (await bob.store.list_namespaces())["namespaces"]
    owners = {namespaces.owner_of(tuple(ns)) for ns in listed}
    assert {(owner.kind, owner.id) for owner in owners} == {("user", BOB)}
    everything = (await alice.store.list_namespaces(prefix=["user"]))["namespaces"]
    assert memories(BOB) not in [list(ns) for ns in everything]
    assert await status_of(bob.store.search_items(["team"])) == 403
    assert await status_of(bob.store.list_namespaces(prefix=["team"])) == 403
    assert await status_of(bob.store.search_items(["elsewhere"])) == 403


async def test_team_namespaces_are_for_members_and_membership_is_read_only(alice, bob):
    workspace = list(namespaces.team_workspace(TEAM))
    await alice.store.put_item(workspace, "status", {"value": {"text": "green"}})
    assert (await alice.store.get_item(workspace, "status"))["value"]["value"] == {"text": "green"}
    assert [i["key"] for i in (await alice.store.search_items(workspace))["items"]] == ["status"]
    for verb in (
        bob.store.put_item(workspace, "status", {"value": {"text": "red"}}),
        bob.store.get_item(workspace, "status"),
        bob.store.search_items(workspace),
        bob.store.delete_item(workspace, "status"),
        bob.store.list_namespaces(prefix=list(namespaces.team_root(TEAM))),
        alice.store.get_item(list(namespaces.team_workspace(OTHER_TEAM)), "status"),
    ):
        assert await status_of(verb) == 403
    members = list(namespaces.team_members(TEAM))
    assert await status_of(alice.store.put_item(members, BOB, {"role": "owner"})) == 403
    assert await status_of(alice.store.delete_item(members, ALICE)) == 403
    assert await alice.store.get_item(members, BOB) is None


async def test_global_namespaces_are_read_only(alice, bob):
    shared = list(namespaces.global_knowledge("python"))
    assert await status_of(alice.store.put_item(shared, "k", {"claim": "x"})) == 403
    assert await status_of(bob.store.delete_item(shared, "k")) == 403
    assert await bob.store.get_item(shared, "k") is None
    assert (await bob.store.search_items(["global"]))["items"] == []


async def test_workspace_entries_put_over_http_carry_the_real_writer(alice, carol):
    workspace = list(namespaces.team_workspace(TEAM))
    forged = {"value": {"text": "ship it"}, "updated_by": ALICE, "updated_at": "2000-01-01"}
    before = utc_now()
    await carol.store.put_item(workspace, "forged", forged)  # carol: by her token only
    stored = (await alice.store.get_item(workspace, "forged"))["value"]
    assert stored["value"] == {"text": "ship it"}
    assert stored["updated_by"] == CAROL
    assert datetime.fromisoformat(stored["updated_at"]) >= before  # the server's clock
    # A value that is no workspace entry is refused naming the field, and not stored.
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await carol.store.put_item(workspace, "plain", {"text": "green"})
    assert caught.value.response.status_code == 422
    assert "value." in caught.value.response.text
    assert await alice.store.get_item(workspace, "plain") is None


async def test_who_and_when_of_any_put_over_http_are_the_servers(alice):
    mine = memories(ALICE)
    forged = {"content": "likes tea", "updated_by": BOB, "updated_at": "2000-01-01"}
    before = utc_now()
    await alice.store.put_item(mine, "tea", forged)
    stored = (await alice.store.get_item(mine, "tea"))["value"]
    assert stored["content"] == "likes tea"
    assert stored["updated_by"] == ALICE
    assert datetime.fromisoformat(stored["updated_at"]) >= before


async def run_workspace(client, team: str, thread: dict | None = None, **request) -> dict:
    """One team_workspace run (on a new thread by default), errors returned, not raised."""
    thread = thread or await client.threads.create()
    return await client.runs.wait(
        thread["thread_id"],
        "team_workspace",
        input=request,
        context={"team_id": team},
        raise_error=False,
    )


async def test_a_token_without_the_team_cannot_create_read_or_write_it(alice, carol, mallory):
    # NEW_TEAM is alice's by her token, and nobody created it yet: mallory may not.
    refused = await run_workspace(mallory, NEW_TEAM, action="create")
    assert refused["__error__"]["error"] == "AccessDeniedError", refused
    assert (await alice.store.search_items(list(namespaces.team_members(NEW_TEAM))))["items"] == []
    created = await run_workspace(alice, NEW_TEAM, action="create")
    assert created["members"][ALICE]["role"] == "owner", created
    await run_workspace(alice, NEW_TEAM, action="add_member", member_id=MALLORY)
    for request in (
        {"action": "read"},
        {"action": "write", "set_entries": {"status": {"hacked": True}}},
        {"action": "create"},
    ):
        out = await run_workspace(mallory, NEW_TEAM, **request)
        assert out["__error__"]["error"] == "AccessDeniedError", out
    workspace = list(namespaces.team_workspace(NEW_TEAM))
    assert await status_of(mallory.store.get_item(workspace, "status")) == 403
    assert await status_of(mallory.store.put_item(workspace, "s", {"value": {}})) == 403
    assert (await alice.store.search_items(workspace))["items"] == []
    # carol's token lists t1: she acts in it as herself without being on its roster.
    written = await run_workspace(carol, TEAM, action="write", set_entries={"plan": {"step": 1}})
    assert written["entries"]["plan"]["updated_by"] == CAROL, written


async def test_two_token_members_creating_one_team_at_once_give_one_owner(alice, carol):
    creators = [alice, carol] * CREATORS_EACH
    for team in RACE_TEAMS:
        threads = await asyncio.gather(*(client.threads.create() for client in creators))
        await asyncio.gather(
            *(
                run_workspace(client, team, thread, action="create")
                for client, thread in zip(creators, threads, strict=True)
            )
        )
        roster = (await alice.store.search_items(list(namespaces.team_members(team))))["items"]
        owners = [item["key"] for item in roster if item["value"]["role"] == "owner"]
        assert len(owners) == 1, (team, roster)


# --- assistants belong to their creator --------------------------------------------------


async def test_assistants_are_seen_and_run_by_their_owner_and_defaults_by_all(alice, bob):
    mine = await alice.assistants.create(
        "user_profile", config={"tags": ["a"]}, metadata={"note": "alice's"}
    )
    mine_id = mine["assistant_id"]
    assert await status_of(bob.assistants.get(mine_id)) == 404
    seen = {a["assistant_id"] for a in await bob.assistants.search(limit=100)}
    assert mine_id not in seen
    assert {a["metadata"].get("created_by") for a in await bob.assistants.search(limit=100)} == {
        "system"
    }
    assert mine_id in {a["assistant_id"] for a in await alice.assistants.search(limit=100)}
    thread = await bob.threads.create()
    assert await status_of(bob.runs.wait(thread["thread_id"], mine_id, input={})) == 404
    assert await status_of(bob.assistants.update(mine_id, metadata={"note": "bob's"})) == 404
    assert await status_of(bob.assistants.delete(mine_id)) == 404
    assert (await alice.assistants.get(mine_id))["metadata"]["note"] == "alice's"
    # Everybody runs the graphs' default assistants, and nobody changes them.
    (default,) = await bob.assistants.search(
        graph_id="user_profile", metadata={"created_by": "system"}
    )
    assert await status_of(bob.assistants.update(default["assistant_id"], metadata={"x": 1})) == 404
    assert await status_of(alice.assistants.delete(default["assistant_id"])) == 404
    out = await bob.runs.wait(thread["thread_id"], "user_profile", input={})
    assert out["profile"] == {}
    ran = await alice.runs.wait((await alice.threads.create())["thread_id"], mine_id, input={})
    assert ran["profile"] == {}
    # Nobody passes an assistant off as a default one.
    fake_default = bob.assistants.create("user_profile", metadata={"created_by": "system"})
    assert await status_of(fake_default) == 403
    own = await bob.assistants.create("user_profile")
    assert (
        await status_of(
            bob.assistants.update(own["assistant_id"], metadata={"created_by": "system"})
        )
        == 403
    )


# --- runs act as the caller --------------------------------------------------------------


@pytest.mark.parametrize("graph", GRAPHS)
async def test_every_cast_refuses_a_run_claiming_another_user(bob, graph):
    thread = await bob.threads.create()
    as_context = bob.runs.wait(thread["thread_id"], graph, input={}, context={"user_id": ALICE})
    assert await status_of(as_context) == 403
    as_configurable = bob.runs.create(
        thread["thread_id"], graph, input={}, config={"configurable": {"user_id": ALICE}}
    )
    assert await status_of(as_configurable) == 403
    stateless = bob.runs.wait(None, graph, input={}, context={"user_id": ALICE})
    assert await status_of(stateless) == 403
    assert await bob.runs.list(thread["thread_id"]) == []


async def test_a_run_acts_as_the_authenticated_user(alice, bob):
    thread = await bob.threads.create()
    out = await bob.runs.wait(
        thread["thread_id"], "user_profile", input={"set_fields": {"name": "Bob"}}
    )
    assert out["changed"] == ["fields.name"]
    same = await bob.runs.wait(
        thread["thread_id"], "user_profile", input={}, context={"user_id": BOB}
    )
    assert same["profile"] == {"name": "Bob"}
    stored = await bob.store.get_item(list(namespaces.user_profile(BOB)), "name")
    assert stored is not None
    alices = await alice.runs.wait(
        (await alice.threads.create())["thread_id"], "user_profile", input={}
    )
    assert alices["profile"] == {}
    assert await status_of(alice.store.get_item(list(namespaces.user_profile(BOB)), "name")) == 403


async def test_an_assistant_may_not_carry_another_users_id(bob):
    refused = bob.assistants.create("user_profile", context={"user_id": ALICE})
    assert await status_of(refused) == 403
    own = await bob.assistants.create("user_profile", context={"user_id": BOB})
    assert own["metadata"]["owner"] == BOB


# --- threads belong to their creator -----------------------------------------------------


async def test_a_thread_is_visible_to_its_creator_only(alice, bob):
    thread = await alice.threads.create(metadata={"topic": "private"})
    thread_id = thread["thread_id"]
    await alice.runs.wait(thread_id, "user_profile", input={"set_fields": {"name": "Al"}})
    assert thread["metadata"]["owner"] == ALICE
    assert (await alice.threads.get(thread_id))["thread_id"] == thread_id
    assert (await alice.threads.get_state(thread_id))["values"]["profile"] == {"name": "Al"}

    assert await status_of(bob.threads.get(thread_id)) == 404
    assert await status_of(bob.threads.get_state(thread_id)) == 404
    assert await status_of(bob.threads.update(thread_id, metadata={"owner": BOB})) == 404
    assert await status_of(bob.runs.wait(thread_id, "user_profile", input={})) == 404
    assert await status_of(bob.runs.list(thread_id)) == 404
    assert await status_of(bob.threads.delete(thread_id)) == 404
    seen_by_bob = await bob.threads.search(limit=100)
    assert thread_id not in {t["thread_id"] for t in seen_by_bob}
    assert thread_id in {t["thread_id"] for t in await alice.threads.search(limit=100)}
    reuse = bob.threads.create(thread_id=thread_id, if_exists="do_nothing")
    assert await status_of(reuse) == 409


async def test_a_client_cannot_pick_the_owner_of_a_thread(alice, bob):
    thread = await bob.threads.create(metadata={"owner": ALICE})
    assert thread["metadata"]["owner"] == BOB
    assert await status_of(alice.threads.get(thread["thread_id"])) == 404
