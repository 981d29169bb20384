"""Shared fixtures: every store-backed test runs on InMemoryStore and on real PostgreSQL.

PostgreSQL is ``POSTGRES_URI`` when set, else an embedded server (PostgreSQL 18 + pgvector)
started once per test run. It is never skipped: an unavailable PostgreSQL fails the run.
Tests isolate themselves with unique ids (``unique``) or a database of their own
(``fresh_database``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from casts.memory.settings import Settings
from casts.memory.store.embedded import start_embedded_postgres
from casts.memory.store.guarded import GuardedStore
from casts.memory.store.persistence import open_checkpointer, open_store
from tests.scripted_openai import ScriptedModel, scripted_openai

BACKENDS = ["memory", "postgres"]
TEST_EMBEDDINGS = {"MEMORY_EMBEDDINGS": "hash", "MEMORY_EMBEDDING_DIMS": "64"}


def _outside_pytest_tmp() -> Path:
    """A directory for an embedded server's data, outside pytest's temporary tree.

    As root the server runs as the OS user ``embedded_postgres``, which must traverse the
    data directory's parents (nothing opens them up for it): ``/tmp/pytest-of-<user>`` is
    mode 700, so the directory is made here, traversable (711) but not listable by others.
    """
    directory = Path(tempfile.mkdtemp(prefix="memory-casts-pg-"))
    directory.chmod(0o711)
    return directory


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A real PostgreSQL with pgvector for the whole run."""
    if os.environ.get("POSTGRES_URI"):
        yield os.environ["POSTGRES_URI"]
        return
    directory = _outside_pytest_tmp()
    yield start_embedded_postgres(directory)


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A data directory of the test's own for an embedded server."""
    directory = _outside_pytest_tmp()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def database_factory(postgres_uri: str) -> Callable[[], str]:
    """Create empty databases on the test server; returns their URIs."""

    def create() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_uri, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return with_database(postgres_uri, name)

    return create


def with_database(uri: str, name: str) -> str:
    """The same server, another database (works for URL and socket-style URIs)."""
    info = psycopg.conninfo.conninfo_to_dict(uri)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


@pytest.fixture
def fresh_database(database_factory: Callable[[], str]) -> str:
    """A database of the test's own."""
    return database_factory()


def settings_for(backend: str, postgres_uri: str | None, tmp: Path, **env: str) -> Settings:
    """Settings for one backend with test embeddings; ``env`` overrides."""
    values = {"MEMORY_BACKEND": backend, "MEMORY_DATA_DIR": str(tmp), **TEST_EMBEDDINGS, **env}
    if backend == "postgres":
        values["POSTGRES_URI"] = postgres_uri or ""
    return Settings.from_env(values)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: each store test runs once per backend."""
    return request.param


@pytest.fixture
def settings(backend: str, postgres_uri: str, tmp_path: Path) -> Settings:
    """Settings of the backend under test."""
    return settings_for(backend, postgres_uri, tmp_path)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[GuardedStore]:
    """The project's store on the backend under test."""
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
async def checkpointer(settings: Settings) -> AsyncIterator[object]:
    """The project's checkpointer on the backend under test."""
    async with open_checkpointer(settings) as opened:
        yield opened


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique ids (with a '.' to exercise label encoding), so tests never share data."""
    run = uuid.uuid4().hex[:8]

    def make(name: str) -> str:
        return f"{name}.{run}@example.com"

    return make


@pytest.fixture(scope="module")
def scripted_model() -> Iterator[tuple[ScriptedModel, str]]:
    """A scripted OpenAI-compatible server for a module's tests, and its base URL."""
    script = ScriptedModel()
    with scripted_openai(script) as base_url:
        yield script, base_url


def chat_server_env(base_url: str, postgres_uri: str, **env: str) -> dict[str, str]:
    """The environment of a `langgraph dev` on PostgreSQL whose chat model is ``base_url``."""
    return {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": postgres_uri,
        "OPENAI_API_KEY": "sk-scripted",
        "OPENAI_BASE_URL": base_url,
        **TEST_EMBEDDINGS,
        **env,
    }
