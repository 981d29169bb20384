"""The schemas a real `langgraph dev` serves for every cast, as Studio reads them.

Studio builds its context form from ``context_schema``: a cast that cannot run without a user
(or a team) says so with JSON schema ``required``. The server does not enforce ``required``,
so under auth a run may still leave ``user_id`` to the token.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator

import pytest
from langgraph_sdk import get_client

from tests.dev_server import PROJECT, running_dev_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

GRAPHS = sorted(json.loads((PROJECT / "langgraph.json").read_text())["graphs"])
# What each cast cannot run without; every other context field is optional.
REQUIRED_CONTEXT = {
    "memory_agent": ["user_id"],
    "user_profile": ["user_id"],
    "knowledge": ["user_id"],
    "team_workspace": ["team_id", "user_id"],
    "session_scratch": ["user_id"],
    "langmem_memory": ["user_id"],
    "memory_manager": ["user_id"],
}
USER = f"schema.{uuid.uuid4().hex[:8]}@example.com"
TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev` without auth, on an in-memory store."""
    env = {"MEMORY_BACKEND": "memory", "OPENAI_API_KEY": ""}
    with running_dev_server(env, tmp_path_factory.mktemp("schemas-open")) as url:
        yield url


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev` with one token, on an in-memory store."""
    env = {
        "MEMORY_BACKEND": "memory",
        "OPENAI_API_KEY": "",
        "MEMORY_AUTH_TOKENS": json.dumps({TOKEN: {"user": USER}}),
    }
    with running_dev_server(env, tmp_path_factory.mktemp("schemas-auth")) as url:
        yield url


def test_every_served_graph_has_its_context_requirements_listed():
    assert sorted(REQUIRED_CONTEXT) == GRAPHS


async def test_every_cast_serves_its_schemas_with_the_context_it_needs(open_server):
    client = get_client(url=open_server)
    assistants = await client.assistants.search(limit=100)
    assert sorted({a["graph_id"] for a in assistants}) == GRAPHS
    for assistant in assistants:
        graph_id = assistant["graph_id"]
        schemas = await client.assistants.get_schemas(assistant["assistant_id"])
        assert schemas["input_schema"]["properties"], graph_id
        assert schemas["output_schema"]["properties"], graph_id
        context = schemas["context_schema"]
        assert {"user_id", "session_id"} <= set(context["properties"]), graph_id
        assert sorted(context.get("required", [])) == REQUIRED_CONTEXT[graph_id], graph_id


async def test_without_auth_a_run_without_user_is_refused_naming_the_field(open_server):
    client = get_client(url=open_server)
    thread = await client.threads.create()
    out = await client.runs.wait(
        thread["thread_id"], "user_profile", input={}, context={}, raise_error=False
    )
    assert out["__error__"]["error"] == "MissingIdentityError", out
    assert "user_id" in out["__error__"]["message"], out


async def test_under_auth_the_token_supplies_the_required_user(auth_server):
    client = get_client(url=auth_server, headers={"Authorization": f"Bearer {TOKEN}"})
    thread = await client.threads.create()
    written = await client.runs.wait(
        thread["thread_id"], "user_profile", input={"set_fields": {"name": "Ada"}}
    )
    assert written["profile"] == {"name": "Ada"}, written
    other = await client.threads.create()
    read = await client.runs.wait(
        other["thread_id"], "user_profile", input={}, context={"session_id": "s1"}
    )
    assert read["profile"] == {"name": "Ada"}, read
