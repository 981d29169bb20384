"""TTL on a real `langgraph dev`: the server starts no sweeper for a custom store, so the
project's store factory runs PostgreSQL's own (``MEMORY_TTL_SWEEP_MINUTES``). Items written
with a TTL through the HTTP store API and through the session_scratch cast disappear --
from the API and from the ``store`` table -- while items without a TTL, or with a long one,
stay. Nothing has to be seen before it expires: the long-lived twin of each short-lived item,
written the same way, shows the TTL was stored.

The server also runs with auth from a token file (``MEMORY_AUTH_FILE``), so the cast acts as
the authenticated user without any ``user_id`` in the request."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from langgraph_sdk import get_client

from casts.memory import namespaces
from tests.conftest import TEST_EMBEDDINGS
from tests.dev_server import running_dev_server

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.postgres]

USER = f"ttl.{uuid.uuid4().hex[:8]}@example.com"
TOKEN = secrets.token_urlsafe(24)
SWEEP_MINUTES = "0.02"  # the sweeper runs every 1.2 s
SHORT_TTL_MINUTES = 1 / 60  # one second
LONG_TTL_MINUTES = 60
GIVE_UP_S = 120  # only bounds a hung test; nothing is asserted about how fast it is


@pytest.fixture(scope="module")
def database(database_factory: Callable[[], str]) -> str:
    return database_factory()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("ttl-server")
    token_file = directory / "tokens.json"
    token_file.write_text(json.dumps({TOKEN: {"user": USER}}))
    env = {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": database,
        "MEMORY_TTL_SWEEP_MINUTES": SWEEP_MINUTES,
        "MEMORY_AUTH_FILE": str(token_file),
        "OPENAI_API_KEY": "",
        **TEST_EMBEDDINGS,
    }
    with running_dev_server(env, directory) as url:
        yield url


@pytest.fixture
def client(server):
    return get_client(url=server, api_key=None, headers={"Authorization": f"Bearer {TOKEN}"})


def rows(database: str, prefix: tuple[str, ...]) -> list[tuple[str, object]]:
    """(key, expires_at) of the items under a namespace prefix, read from the table."""
    with psycopg.connect(database) as conn:
        return conn.execute(
            "SELECT key, expires_at FROM store WHERE prefix = %s OR prefix LIKE %s ORDER BY key",
            (".".join(prefix), ".".join(prefix) + ".%"),
        ).fetchall()


async def wait_until_swept(database: str, prefix: tuple[str, ...], key: str) -> None:
    """Poll the table until ``key`` under ``prefix`` is gone (bounded by ``GIVE_UP_S``)."""
    deadline = time.monotonic() + GIVE_UP_S
    while key in dict(rows(database, prefix)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert key not in dict(rows(database, prefix)), f"{key!r} under {prefix} was never swept"


async def test_items_put_with_a_ttl_through_the_server_are_swept(client, database):
    scratch = namespaces.session_scratch(USER, "http")
    kept = namespaces.user_memories(USER)
    draft, later = {"text": "temporary"}, {"text": "for an hour"}
    await client.store.put_item(list(scratch), "draft", draft, ttl=SHORT_TTL_MINUTES)
    await client.store.put_item(list(scratch), "later", later, ttl=LONG_TTL_MINUTES)
    await client.store.put_item(list(kept), "fact", {"content": "permanent"})
    assert dict(rows(database, scratch))["later"] is not None
    assert [expiry for _, expiry in rows(database, kept)] == [None]

    await wait_until_swept(database, scratch, "draft")

    assert await client.store.get_item(list(scratch), "draft") is None
    found = (await client.store.search_items(list(scratch)))["items"]
    assert [(item["key"], item["value"]) for item in found] == [("later", later)]
    assert (await client.store.get_item(list(kept), "fact"))["value"] == {"content": "permanent"}


async def test_session_scratch_written_by_the_cast_with_a_short_ttl_is_swept(client, database):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]

    async def write(key: str, ttl_minutes: float) -> dict:
        request = {"action": "write", "set_entries": {key: {"n": 1}}, "ttl_minutes": ttl_minutes}
        return await client.runs.wait(thread_id, "session_scratch", input=request)

    assert (await write("note", SHORT_TTL_MINUTES))["changed"] == ["note"]
    assert (await write("later", LONG_TTL_MINUTES))["changed"] == ["later"]
    session = namespaces.session_scratch(USER, thread_id)  # the user from the token
    assert dict(rows(database, session))["later"] is not None

    await wait_until_swept(database, session, "note")

    read = await client.runs.wait(thread_id, "session_scratch", input={"action": "read"})
    assert list(read["entries"]) == ["later"]
