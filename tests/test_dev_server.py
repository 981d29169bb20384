"""A real `langgraph dev` driven with langgraph_sdk: every cast served, memory shared
across threads, the project's store and checkpointer really used, data kept over a restart."""

from __future__ import annotations

import json

import psycopg
import pytest
from langgraph_sdk import get_client

from casts.memory.store.embedded import start_embedded_postgres
from tests.dev_server import PROJECT, running_dev_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

GRAPHS = sorted(json.loads((PROJECT / "langgraph.json").read_text())["graphs"])


async def run_profile(client, thread_id: str, user: str, request: dict) -> dict:
    return await client.runs.wait(
        thread_id, "user_profile", input=request, context={"user_id": user}
    )


async def test_dev_server_on_embedded_postgres_survives_a_restart(
    tmp_path, embedded_data_dir, unique
):
    data_dir = embedded_data_dir
    env = {"MEMORY_DATA_DIR": str(data_dir), "MEMORY_BACKEND": "embedded", "OPENAI_API_KEY": ""}
    user = unique("server")

    with running_dev_server(env, tmp_path) as url:
        client = get_client(url=url)
        assistants = await client.assistants.search(limit=50)
        assert sorted({a["graph_id"] for a in assistants}) == GRAPHS
        for assistant in assistants:
            schemas = await client.assistants.get_schemas(assistant["assistant_id"])
            assert schemas["input_schema"]["properties"], assistant["graph_id"]
            assert schemas["output_schema"]["properties"], assistant["graph_id"]
            assert schemas["context_schema"]["properties"]["user_id"], assistant["graph_id"]
            drawing = await client.assistants.get_graph(assistant["assistant_id"])
            assert len(drawing["nodes"]) >= 3, assistant["graph_id"]  # start, work, end

        first, second = await client.threads.create(), await client.threads.create()
        written = await run_profile(
            client,
            first["thread_id"],
            user,
            {"set_fields": {"name": "Ada"}, "set_preferences": {"theme": "dark"}},
        )
        assert written["changed"] == ["fields.name", "preferences.theme"]
        read = await run_profile(client, second["thread_id"], user, {})
        assert read["profile"] == {"name": "Ada"}
        assert read["preferences"] == {"theme": "dark"}

        await client.store.put_item(
            ["user", "http-example", "memories"], "k", {"content": "via HTTP"}
        )
        item = await client.store.get_item(["user", "http-example", "memories"], "k")
        assert item["value"] == {"content": "via HTTP"}

    # The server is stopped: the data is in the embedded PostgreSQL, written by both factories.
    uri = start_embedded_postgres(data_dir)
    with psycopg.connect(uri) as conn:
        assert (
            conn.execute("SELECT count(*) FROM store WHERE prefix LIKE 'user.%'").fetchone()[0] >= 3
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (first["thread_id"],)
            ).fetchone()[0]
            > 0
        )

    with running_dev_server(env, tmp_path) as url:
        client = get_client(url=url)
        third = await client.threads.create()
        again = await run_profile(client, third["thread_id"], user, {})
        assert again["profile"] == {"name": "Ada"}
        state = await client.threads.get_state(first["thread_id"])
        assert state["values"]["profile"] == {"name": "Ada"}
