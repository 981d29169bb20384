"""Forgetting a user: ``memory-casts forget-user`` on both backends, and the memory
manager's ``forget_me`` on a real `langgraph dev` under auth (the user can, no one else)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from langgraph_sdk import get_client

from casts.memory import memories, namespaces, profiles, workspace
from casts.memory.cli.main import amain
from casts.memory.store.reading import asearch_all
from tests.conftest import TEST_EMBEDDINGS
from tests.dev_server import running_dev_server


async def seed(store, user: str, team: str, other_team: str) -> None:
    """Something of the user in every namespace they have, and on two team rosters."""
    change = profiles.plan_profile_change(
        user, fields={"name": "Ada"}, preferences={"theme": "dark"}
    )
    await profiles.apply_profile_change(store, change)
    await memories.remember(store, user, "Ada likes tea")
    await memories.remember(store, user, "Ada has a cat")
    await store.aput(
        namespaces.user_knowledge(user, "bees"),
        "k1",
        {"content": "Bees dance", "topic": "bees", "status": "current"},
    )
    await store.aput(namespaces.session_scratch(user, "s1"), "draft", {"data": {"a": 1}})
    await store.aput(namespaces.user_formation(user), "thread-1", {"last_message_id": "m1"})
    await workspace.create_team(store, team, user)
    owner = f"owner-{uuid.uuid4().hex[:6]}"
    await workspace.create_team(store, other_team, owner)
    await workspace.add_member(store, other_team, owner, user)


async def everything_of(store, user: str) -> list:
    prefixes = [namespaces.user_root(user), namespaces.user_sessions(user)]
    found = await asearch_all(store, *prefixes)
    return [item for items in found for item in items]


async def forget(capsys, store, *argv: str) -> tuple[int, dict | None, str]:
    capsys.readouterr()
    code = await amain(["forget-user", *argv], store=store)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


async def test_forget_user_deletes_every_namespace_and_membership(store, unique, capsys):
    ada, bob = unique("ada"), unique("bob")
    team, other_team = unique("team"), unique("other")
    await seed(store, ada, team, other_team)
    await memories.remember(store, bob, "Bob likes coffee")

    code, receipt, err = await forget(capsys, store, ada)

    assert code == 0
    assert receipt["user_id"] == ada
    assert receipt["deleted"] == {
        f"user/{ada}/profile": 1,
        f"user/{ada}/preferences": 1,
        f"user/{ada}/memories": 2,
        f"user/{ada}/knowledge/bees": 1,
        f"user/{ada}/formation": 1,
        f"session/{ada}/s1/scratch": 1,
    }
    assert receipt["items"] == 7
    assert receipt["teams"] == sorted([team, other_team])
    assert receipt["threads"] is None
    assert "--server" in err
    assert await everything_of(store, ada) == []
    for t in (team, other_team):
        assert await workspace.get_member(store, t, ada) is None
    bobs = await memories.recall_memories(store, bob, "coffee", 5)
    assert [hit.value["content"] for hit in bobs] == ["Bob likes coffee"]

    code, again, _ = await forget(capsys, store, ada)
    assert code == 0
    assert again["deleted"] == {}
    assert again["items"] == 0
    assert again["teams"] == []


async def test_forget_user_refuses_a_bad_id_and_deletes_nothing(store, unique, capsys):
    ada = unique("ada")
    await memories.remember(store, ada, "Ada likes tea")
    code, receipt, err = await forget(capsys, store, " ")
    assert code == 2
    assert receipt is None
    assert "user_id" in err
    assert len(await everything_of(store, ada)) == 1


async def test_forget_user_with_an_unreachable_server_deletes_nothing(store, unique, capsys):
    ada = unique("ada")
    await memories.remember(store, ada, "Ada likes tea")
    with socket_closed() as url:
        code, receipt, err = await forget(capsys, store, ada, "--server", url)
    assert code == 2
    assert receipt is None
    assert "nothing deleted" in err
    assert len(await everything_of(store, ada)) == 1


class socket_closed:
    """A loopback URL nobody listens on."""

    def __enter__(self) -> str:
        from tests.dev_server import free_port

        return f"http://127.0.0.1:{free_port()}"

    def __exit__(self, *exc: object) -> None:
        return None


# --- through the server, under auth ---------------------------------------------------

RUN = uuid.uuid4().hex[:8]
ALICE, BOB = f"alice.{RUN}@example.com", f"bob.{RUN}@example.com"
ALICE_TOKEN, BOB_TOKEN = secrets.token_urlsafe(24), secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str]
) -> Iterator[str]:
    tokens = {ALICE_TOKEN: {"user": ALICE}, BOB_TOKEN: {"user": BOB}}
    env = {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": database_factory(),
        "OPENAI_API_KEY": "",
        "MEMORY_AUTH_TOKENS": json.dumps(tokens),
        **TEST_EMBEDDINGS,
    }
    with running_dev_server(env, tmp_path_factory.mktemp("forget-server")) as url:
        yield url


def client_for(url: str, token: str):
    return get_client(url=url, api_key=None, headers={"Authorization": f"Bearer {token}"})


async def status_of(call) -> int:
    try:
        await call
    except httpx.HTTPStatusError as error:
        return error.response.status_code
    return 200


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.postgres
async def test_a_user_forgets_themselves_on_the_server_and_no_one_else_can(server):
    alice, bob = client_for(server, ALICE_TOKEN), client_for(server, BOB_TOKEN)
    memories_ns = list(namespaces.user_memories(ALICE))
    await alice.store.put_item(memories_ns, "m1", {"content": "Alice likes tea"})
    await alice.store.put_item(list(namespaces.user_profile(ALICE)), "name", {"value": "Alice"})
    await bob.store.put_item(list(namespaces.user_memories(BOB)), "m1", {"content": "Bob"})
    old = await alice.threads.create()
    bobs_thread = await bob.threads.create()

    # Bob cannot erase Alice: the run is refused before it starts.
    refused = bob.runs.wait(
        bobs_thread["thread_id"],
        "memory_manager",
        input={"action": "forget_me"},
        context={"user_id": ALICE},
    )
    assert await status_of(refused) == 403
    assert (await alice.store.get_item(memories_ns, "m1")) is not None

    here = await alice.threads.create()
    out = await alice.runs.wait(here["thread_id"], "memory_manager", input={"action": "forget_me"})
    receipt = out["forgotten"]
    assert receipt["user_id"] == ALICE
    assert receipt["deleted"] == {f"user/{ALICE}/memories": 1, f"user/{ALICE}/profile": 1}
    assert receipt["threads"] == [old["thread_id"]]
    assert receipt["kept_threads"] == [here["thread_id"]]
    assert (await alice.store.search_items(memories_ns))["items"] == []
    assert [t["thread_id"] for t in await alice.threads.search()] == [here["thread_id"]]
    # Bob's data and threads are untouched.
    assert (await bob.store.get_item(list(namespaces.user_memories(BOB)), "m1")) is not None
    assert [t["thread_id"] for t in await bob.threads.search()] == [bobs_thread["thread_id"]]

    again = await alice.runs.wait(
        here["thread_id"], "memory_manager", input={"action": "forget_me"}
    )
    assert again["forgotten"]["items"] == 0
    assert again["forgotten"]["threads"] == []
