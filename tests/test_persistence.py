"""Persistence factories: backend choice, migrations, restarts, clear failures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import psycopg
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore

from casts.memory import namespaces
from casts.memory.core.errors import EmbeddingDimensionMismatchError, StoreUnavailableError
from casts.memory.settings import Settings
from casts.memory.store.guarded import PatchedInMemoryStore
from casts.memory.store.persistence import open_checkpointer, open_store
from casts.user_profile.graph import UserProfileGraph
from tests.conftest import settings_for

PROJECT = Path(__file__).resolve().parents[1]


async def test_memory_backend_is_in_memory(tmp_path):
    settings = settings_for("memory", None, tmp_path)
    async with open_store(settings) as store, open_checkpointer(settings) as saver:
        assert isinstance(store.inner, PatchedInMemoryStore)
        assert isinstance(saver, InMemorySaver)


async def test_postgres_backend_is_migrated(fresh_database, tmp_path):
    settings = settings_for("postgres", fresh_database, tmp_path)
    async with open_store(settings) as store, open_checkpointer(settings) as saver:
        assert isinstance(store.inner, AsyncPostgresStore)
        assert isinstance(saver, AsyncPostgresSaver)
    with psycopg.connect(fresh_database) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables").fetchall()}
    assert {"store", "store_vectors", "checkpoints", "checkpoint_writes"} <= tables


async def test_expired_items_are_swept_without_being_read(fresh_database, tmp_path, unique):
    """The server starts no sweeper for a custom store: the factory's own deletes them."""
    settings = settings_for("postgres", fresh_database, tmp_path, MEMORY_TTL_SWEEP_MINUTES="0.01")
    key = unique("swept")
    async with open_store(settings) as store:
        await store.aput(("user", "ttl"), key, {"content": "short-lived"}, ttl=0.005)
        await store.aput(("user", "ttl"), f"{key}-kept", {"content": "no ttl"})
        with psycopg.connect(fresh_database, autocommit=True) as conn:
            for _ in range(300):
                rows = conn.execute("SELECT key FROM store WHERE prefix = 'user.ttl'").fetchall()
                if len(rows) == 1:
                    break
                await asyncio.sleep(0.1)
    assert rows == [(f"{key}-kept",)]


async def test_concurrent_first_opens_migrate_once(fresh_database, tmp_path):
    settings = settings_for("postgres", fresh_database, tmp_path)

    async def open_and_write(n: int) -> None:
        async with open_store(settings) as store, open_checkpointer(settings):
            await store.aput(("user", "racer"), f"k{n}", {"content": f"n{n}"})

    await asyncio.gather(*(open_and_write(n) for n in range(4)))
    with psycopg.connect(fresh_database) as conn:
        versions = conn.execute(
            "SELECT count(*), count(DISTINCT v) FROM store_migrations"
        ).fetchone()
    assert versions[0] == versions[1]


async def test_written_then_read_after_store_and_pool_reopen(fresh_database, tmp_path, unique):
    settings = settings_for("postgres", fresh_database, tmp_path)
    user = unique("persist")
    async with open_store(settings) as store, open_checkpointer(settings) as saver:
        graph = UserProfileGraph().build(store=store, checkpointer=saver)
        await graph.ainvoke(
            {"set_fields": {"name": "Ada"}},
            {"configurable": {"thread_id": "t1"}},
            context={"user_id": user},
        )
    async with open_store(settings) as store, open_checkpointer(settings) as saver:
        graph = UserProfileGraph().build(store=store, checkpointer=saver)
        out = await graph.ainvoke(
            {}, {"configurable": {"thread_id": "t2"}}, context={"user_id": user}
        )
        assert out["profile"] == {"name": "Ada"}
        state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
        assert state.values["profile"] == {"name": "Ada"}  # checkpoints survived too


def test_embedded_data_survives_a_new_process(embedded_data_dir):
    """What `make dev` relies on: the embedded server's data outlives the process."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from casts.memory.store.persistence import open_store
        from casts.memory.settings import Settings

        async def main(mode):
            env = {"MEMORY_BACKEND": "embedded", "MEMORY_DATA_DIR": sys.argv[2]}
            settings = Settings.from_env(env)
            async with open_store(settings) as store:
                if mode == "write":
                    await store.aput(("user", "proc"), "k", {"content": "kept"})
                else:
                    print((await store.aget(("user", "proc"), "k")).value["content"])

        asyncio.run(main(sys.argv[1]))
        """
    )
    data = str(embedded_data_dir)
    for mode in ("write", "read"):
        done = subprocess.run(
            [sys.executable, "-c", script, mode, data],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kept"


async def test_unreachable_postgres_is_a_clear_error(tmp_path):
    settings = Settings.from_env(
        {
            "POSTGRES_URI": "postgresql://user:secret@127.0.0.1:1/nowhere",
            "MEMORY_CONNECT_TIMEOUT": "1",
            "MEMORY_DATA_DIR": str(tmp_path),
        }
    )
    with pytest.raises(StoreUnavailableError) as caught:
        async with open_store(settings):
            pass
    assert "127.0.0.1:1" in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_changed_embedding_dimensions_are_a_clear_error(fresh_database, tmp_path):
    first = settings_for("postgres", fresh_database, tmp_path, MEMORY_EMBEDDING_DIMS="64")
    async with open_store(first) as store:
        await store.aput(namespaces.user_memories("dims"), "k", {"content": "vector of 64"})
    second = settings_for("postgres", fresh_database, tmp_path, MEMORY_EMBEDDING_DIMS="32")
    with pytest.raises(EmbeddingDimensionMismatchError) as caught:
        async with open_store(second):
            pass
    message = str(caught.value)
    assert "64-dimension" in message and "gives 32" in message
    assert "DROP TABLE store_vectors" in message
    assert "memory-casts reindex" in message


async def test_store_without_embeddings_opens_a_database_with_vectors(fresh_database, tmp_path):
    async with open_store(settings_for("postgres", fresh_database, tmp_path)) as store:
        await store.aput(("user", "x"), "k", {"content": "indexed"})
    plain = settings_for("postgres", fresh_database, tmp_path, MEMORY_EMBEDDINGS="none")
    async with open_store(plain) as store:
        assert (await store.aget(("user", "x"), "k")).value == {"content": "indexed"}


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


async def test_embedded_server_stops_when_its_last_user_leaves(embedded_data_dir):
    """`langgraph dev` exits its worker without atexit: the factories must stop the server."""
    settings = Settings.from_env(
        {"MEMORY_BACKEND": "embedded", "MEMORY_DATA_DIR": str(embedded_data_dir)}
    )
    async with open_store(settings) as store, open_checkpointer(settings):
        await store.aput(("user", "stop"), "k", {"content": "kept"})
        pid = postmaster_pid(embedded_data_dir)
        assert pid is not None and psutil.pid_exists(pid)
        async with open_store(settings):
            pass
        assert psutil.pid_exists(pid)  # another user is still open
    deadline = time.monotonic() + 60  # only bounds a hung stop
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not psutil.pid_exists(pid)
    async with open_store(settings) as store:  # and it starts again, data intact
        assert (await store.aget(("user", "stop"), "k")).value == {"content": "kept"}
