"""``memory-casts`` store commands on both backends, with real stores.

Most tests hand the ``store`` fixture to ``amain`` so several commands share one store (an
in-memory store lives only as long as the process); the tests at the end run ``main`` and
the installed entry point against the environment, as a person would.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from langgraph.store.base import PutOp
from langgraph.store.postgres import PostgresStore

from casts.memory import namespaces
from casts.memory.cli.main import amain, main
from casts.memory.core.errors import InvalidNamespaceError
from casts.memory.core.namespace_text import format_namespace, parse_namespace
from casts.memory.core.records import utc_now
from casts.memory.kinds.scratch import write_scratch
from casts.memory.recall.search import recall
from casts.memory.store.persistence import open_store
from casts.memory.store.reading import asearch_all
from casts.memory.store.transfer import export_items
from tests.conftest import settings_for


async def run(capsys, store, *argv: str) -> tuple[int, str, str]:
    """Run one command against ``store``; returns (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = await amain(list(argv), store=store)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# --- namespace syntax --------------------------------------------------------------------


def test_slash_syntax_encodes_ids_and_reads_back():
    namespace = parse_namespace("user/ada@example.com/memories")
    assert namespace == namespaces.user_memories("ada@example.com")
    assert format_namespace(namespace) == "user/ada@example.com/memories"


def test_json_array_reaches_labels_the_slash_form_cannot():
    namespace = parse_namespace('["user", "a/b", "memories"]')
    assert namespace == ("user", "a/b", "memories")
    assert format_namespace(namespace) == '["user", "a/b", "memories"]'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user.ada@example.com.memories", "separated by '/', not '.'"),
        ("people/ada", "must start with one of user, team, global, session"),
        ("user//memories", "label 1 is empty"),
        ("user/ada/", "label 2 is empty"),
        ('["user", 3]', "JSON array of strings"),
        ("[user", "not a valid JSON array"),
        ('["langgraph", "x"]', "reserved"),
    ],
)
def test_unknown_namespace_syntax_is_a_clear_error(text, expected):
    with pytest.raises(InvalidNamespaceError) as caught:
        parse_namespace(text)
    assert expected in str(caught.value)


# --- put, get, rm, ls, stats, search -------------------------------------------------------


async def test_put_get_rm(store, capsys, unique):
    user = unique("ada")
    ns = f"user/{user}/memories"
    code, out, _ = await run(capsys, store, "put", ns, "tea", '{"content": "likes tea"}')
    assert code == 0 and "put" in out
    stored = await store.aget(namespaces.user_memories(user), "tea")
    assert stored is not None and stored.value == {"content": "likes tea"}

    code, out, _ = await run(capsys, store, "get", ns, "tea")
    (item,) = lines(out)
    assert code == 0
    assert item["namespace"] == ns and item["key"] == "tea"
    assert item["value"] == {"content": "likes tea"}
    assert item["created_at"].endswith("+00:00")

    code, _, _ = await run(capsys, store, "rm", ns, "tea")
    assert code == 0
    assert await store.aget(namespaces.user_memories(user), "tea") is None
    code, _, err = await run(capsys, store, "get", ns, "tea")
    assert code == 1 and "no item 'tea'" in err
    code, _, err = await run(capsys, store, "rm", ns, "tea")
    assert code == 1 and "no item 'tea'" in err


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{not json", "JSON: is not valid JSON"),
        ("[1, 2]", "JSON: must be a JSON object, got list"),
        ('{"score": NaN}', "value.score: is nan"),
        ('{"text": "a\\u0000b"}', "value.text: contains a NUL"),
    ],
)
async def test_put_refuses_bad_values_and_writes_nothing(store, capsys, unique, value, expected):
    user = unique("bad")
    code, out, err = await run(capsys, store, "put", f"user/{user}/memories", "k", value)
    assert code == 2 and out == ""
    assert expected in err
    assert await store.aget(namespaces.user_memories(user), "k") is None


async def test_bad_namespace_is_refused(store, capsys):
    code, _, err = await run(capsys, store, "put", "user.ada.memories", "k", "{}")
    assert code == 2 and "not '.'" in err


async def test_ls_and_stats(store, capsys, unique):
    user = unique("stats")
    root = f"user/{user}"
    for ns, key in [("memories", "a"), ("memories", "b"), ("profile", "name")]:
        assert (await run(capsys, store, "put", f"{root}/{ns}", key, '{"content": "x"}'))[0] == 0

    code, out, _ = await run(capsys, store, "ls", root)
    assert code == 0
    assert out.splitlines() == [f"{root}/memories", f"{root}/profile"]

    code, out, _ = await run(capsys, store, "stats", root)
    assert code == 0
    assert out.splitlines() == [
        f"2  {root}/memories",
        f"1  {root}/profile",
        "total: 3 items in 2 namespaces",
    ]
    code, out, _ = await run(capsys, store, "stats", root, "--json")
    assert json.loads(out) == {
        "namespaces": [
            {"namespace": f"{root}/memories", "items": 2},
            {"namespace": f"{root}/profile", "items": 1},
        ],
        "total_items": 3,
        "total_namespaces": 2,
    }


MANY = 5000


async def put_many(store, user: str, value: dict | None = None) -> list[PutOp]:
    """``MANY`` items of ``user`` over two namespaces in one batch: on PostgreSQL one
    statement, so they share one ``updated_at`` (where paging by offset skipped items)."""
    memories, knowledge = namespaces.user_memories(user), namespaces.user_knowledge(user, "t")
    ops = [
        PutOp(memories if i % 5 else knowledge, f"k{i:05d}", {"n": i, **(value or {})})
        for i in range(MANY)
    ]
    await store.abatch(ops)
    return ops


async def test_stats_counts_thousands_written_in_one_batch(store, capsys, unique):
    user = unique("many")
    await put_many(store, user)
    code, out, _ = await run(capsys, store, "stats", f"user/{user}", "--json")
    assert code == 0
    assert json.loads(out) == {
        "namespaces": [
            {"namespace": f"user/{user}/knowledge/t", "items": MANY // 5},
            {"namespace": f"user/{user}/memories", "items": MANY - MANY // 5},
        ],
        "total_items": MANY,
        "total_namespaces": 2,
    }


async def test_search_with_and_without_query(store, capsys, unique):
    ns = f"user/{unique('search')}/memories"
    items = {
        "cat": {"content": "my cat is called Miso", "kind": "pet"},
        "job": {"content": "works as a carpenter in Leeds", "kind": "work"},
        "tea": {"content": "drinks green tea every morning", "kind": "habit"},
    }
    for key, value in items.items():
        assert (await run(capsys, store, "put", ns, key, json.dumps(value)))[0] == 0

    code, out, _ = await run(capsys, store, "search", ns, "--query", "what is the cat called")
    found = lines(out)
    assert code == 0 and found[0]["key"] == "cat" and found[0]["score"] > 0

    code, out, _ = await run(capsys, store, "search", ns, "--filter", '{"kind": "work"}')
    assert [item["key"] for item in lines(out)] == ["job"]

    code, out, _ = await run(capsys, store, "search", ns, "--limit", "2")
    assert len(lines(out)) == 2

    code, _, err = await run(capsys, store, "search", ns, "--filter", "[1]")
    assert code == 2 and "--filter: must be a JSON object" in err


# --- export and import ---------------------------------------------------------------------

TRICKY = [
    (("user", "ada@example%2Ecom", "memories"), "m1", {"content": "Ünïcødé ✓ — 東京", "n": 1.5}),
    (("user", "ada@example%2Ecom", "profile"), "name", {"value": "Ada", "tags": [None, True]}),
    (("team", "acme", "workspace"), "status", {"nested": {"deep": {"list": [1, [2, {"x": 3}]]}}}),
    (("global", "knowledge", "python"), "gil", {"content": "the GIL", "confidence": 0.9}),
    (("user", "a/b", "memories"), "slash", {"content": "a label with a slash"}),
]


async def put_tricky(store, prefix: str) -> set[tuple]:
    ops = []
    for namespace, key, value in TRICKY:
        ops.append(PutOp((namespace[0], f"{prefix}{namespace[1]}", *namespace[2:]), key, value))
    await store.abatch(ops)
    return {(op.namespace, op.key, json.dumps(op.value, sort_keys=True)) for op in ops}


def exported(path: Path) -> set[tuple]:
    return {
        (tuple(r["namespace"]), r["key"], json.dumps(r["value"], sort_keys=True))
        for r in lines(path.read_text(encoding="utf-8"))
    }


async def test_export_memory_import_postgres_and_back(capsys, fresh_database, tmp_path):
    memory = settings_for("memory", None, tmp_path)
    postgres = settings_for("postgres", fresh_database, tmp_path)
    first, second, third = tmp_path / "1.jsonl", tmp_path / "2.jsonl", tmp_path / "3.jsonl"
    async with open_store(memory) as source:
        expected = await put_tricky(source, "")
        assert (await run(capsys, source, "export", "--out", str(first)))[0] == 0
    assert exported(first) == expected
    for record in lines(first.read_text(encoding="utf-8")):
        assert set(record) == {"namespace", "key", "value", "created_at", "updated_at"}

    async with open_store(postgres) as target:
        code, out, _ = await run(capsys, target, "import", str(first))
        assert code == 0 and "imported 5 items" in out
        assert (await run(capsys, target, "export", "--out", str(second)))[0] == 0
    assert exported(second) == expected

    async with open_store(memory) as back:
        assert (await run(capsys, back, "import", str(second)))[0] == 0
        assert (await run(capsys, back, "export", "--out", str(third)))[0] == 0
    assert exported(third) == expected


async def test_export_a_prefix_to_stdout(store, capsys, unique):
    run_id = unique("x").split(".")[1].split("@")[0]
    expected = await put_tricky(store, run_id)
    code, out, err = await run(capsys, store, "export", f"team/{run_id}acme")
    assert code == 0 and "exported 1 items" in err
    assert {(tuple(r["namespace"]), r["key"]) for r in lines(out)} == {
        (ns, key) for ns, key, _ in expected if ns[0] == "team"
    }


async def test_export_cleanup_import_round_trip_of_thousands_in_one_batch(
    store, capsys, unique, tmp_path
):
    user = unique("trip")
    await put_many(store, user)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    code, _, err = await run(capsys, store, "export", f"user/{user}", "--out", str(first))
    assert code == 0 and f"exported {MANY} items" in err
    records = lines(first.read_text(encoding="utf-8"))
    assert len(records) == len({(tuple(r["namespace"]), r["key"]) for r in records}) == MANY

    code, out, _ = await run(capsys, store, "cleanup", f"user/{user}", "--older-than", "0")
    assert code == 0 and out.splitlines()[-1] == f"deleted {MANY} of {MANY} items under user/{user}"
    code, out, _ = await run(capsys, store, "stats", f"user/{user}")
    assert out.splitlines()[-1] == "total: 0 items in 0 namespaces"

    code, out, _ = await run(capsys, store, "import", str(first))
    assert code == 0 and f"imported {MANY} items" in out
    assert (await run(capsys, store, "export", f"user/{user}", "--out", str(second)))[0] == 0
    assert exported(second) == exported(first) and len(exported(second)) == MANY


class UpdatingWriter(io.StringIO):
    """An export target that, once the first line is written, has every item updated by
    another writer of the same store (a real one: the store itself in memory, a second
    LangGraph store on the same database on PostgreSQL)."""

    def __init__(self, update: Callable[[], None]) -> None:
        super().__init__()
        self.update: Callable[[], None] | None = update

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.update is not None:
            update, self.update = self.update, None
            update()
        return written


async def test_an_export_is_a_snapshot_while_items_are_updated(store, settings, unique):
    user = unique("busy")
    written = await put_many(store, user, {"version": 1})
    changed = [PutOp(op.namespace, op.key, {**op.value, "version": 2}) for op in written]

    def update() -> None:
        if settings.backend == "memory":
            store.inner.batch(changed)  # on the loop's thread GuardedStore refuses sync calls
            return
        with PostgresStore.from_conn_string(settings.postgres_uri) as other:
            other.batch(changed)

    out = UpdatingWriter(update)
    assert await export_items(store, out, namespaces.user_root(user)) == MANY
    records = lines(out.getvalue())
    assert len({(tuple(r["namespace"]), r["key"]) for r in records}) == MANY
    assert {r["value"]["version"] for r in records} == {1}  # as it was when the export began
    (now,) = await asearch_all(store, namespaces.user_root(user))
    assert len(now) == MANY and {item.value["version"] for item in now} == {2}


def write_lines(path: Path, records: list) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n",
        encoding="utf-8",
    )
    return path


def good(user: str, i: int) -> dict:
    return {"namespace": ["user", user, "memories"], "key": f"k{i}", "value": {"content": f"m{i}"}}


async def test_import_is_batched_idempotent_and_shows_progress(store, capsys, unique, tmp_path):
    user = namespaces.encode_id(unique("imp"))
    path = write_lines(tmp_path / "in.jsonl", [good(user, i) for i in range(7)] + [""])
    code, out, err = await run(
        capsys, store, "import", str(path), "--batch-size", "3", "--progress"
    )
    assert code == 0 and "imported 7 items" in out
    assert "importing" in err and "7/7" in err
    assert (await run(capsys, store, "import", str(path), "--batch-size", "3"))[0] == 0
    code, out, _ = await run(capsys, store, "stats", json.dumps(["user", user]))
    assert out.splitlines()[-1] == "total: 7 items in 1 namespaces"


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("{broken", "line 5: not valid JSON"),
        ("[1, 2]", "line 5: must be a JSON object"),
        ('{"namespace": ["user", "x"], "key": "k"}', "line 5: missing value"),
        ('{"namespace": "user/x", "key": "k", "value": {}}', "line 5: namespace must be a JSON"),
        ('{"namespace": ["user", "a.b"], "key": "k", "value": {}}', "line 5: namespace[1]"),
        ('{"namespace": ["user", "x"], "key": "", "value": {}}', "line 5: key: must not be empty"),
        ('{"namespace": ["user", "x"], "key": "k", "value": null}', "line 5: value: must be"),
        ('{"namespace": ["user", "x"], "key": "k", "value": {"t": "\\u0000"}}', "line 5: value.t"),
        ('{"namespace": ["user", "x"], "key": "k", "value": {"n": NaN}}', "line 5: value.n"),
    ],
)
async def test_a_bad_line_fails_the_import_and_writes_nothing(
    store, capsys, unique, tmp_path, bad, expected
):
    user = namespaces.encode_id(unique("bad"))
    records = [good(user, 1), good(user, 2), good(user, 3), "", bad, good(user, 6)]
    path = write_lines(tmp_path / "in.jsonl", records)
    code, out, err = await run(capsys, store, "import", str(path), "--batch-size", "2")
    assert code == 2 and out == ""
    assert expected in err and "nothing was imported" in err
    code, out, _ = await run(capsys, store, "stats", json.dumps(["user", user]))
    assert out.splitlines()[-1] == "total: 0 items in 0 namespaces"


async def test_import_of_a_missing_file_is_a_clear_error(store, capsys, tmp_path):
    code, _, err = await run(capsys, store, "import", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "is not a file" in err


# --- cleanup -------------------------------------------------------------------------------


async def test_cleanup_of_session_scratch_uses_expiry(store, capsys, unique):
    user = unique("sess")
    await write_scratch(
        store,
        user,
        "old",
        {"draft": {"text": "x"}},
        ttl_minutes=60,
        now=utc_now() - timedelta(days=3),
    )
    await write_scratch(store, user, "new", {"draft": {"text": "y"}})
    prefix = f"session/{user}"
    code, out, _ = await run(capsys, store, "cleanup", prefix, "--older-than", "2", "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        f"would delete session/{user}/old/scratch draft",
        f"would delete 1 of 2 items under session/{user}",
    ]
    assert len(await store.asearch(namespaces.user_sessions(user), limit=10)) == 2
    code, out, _ = await run(capsys, store, "cleanup", prefix, "--older-than", "2")
    assert code == 0 and out.splitlines()[-1] == f"deleted 1 of 2 items under session/{user}"
    left = await store.asearch(namespaces.user_sessions(user), limit=10)
    assert [tuple(item.namespace) for item in left] == [namespaces.session_scratch(user, "new")]


async def test_cleanup_elsewhere_goes_by_last_update(store, capsys, unique):
    user, other = unique("old"), unique("keep")
    for who in (user, other):
        await store.aput(namespaces.user_memories(who), "m", {"content": "x"})
    code, out, _ = await run(capsys, store, "cleanup", f"user/{user}", "--older-than", "1")
    assert code == 0 and out.splitlines() == [f"deleted 0 of 1 items under user/{user}"]
    code, out, _ = await run(capsys, store, "cleanup", f"user/{user}", "--older-than", "0")
    assert code == 0 and out.splitlines()[-1] == f"deleted 1 of 1 items under user/{user}"
    assert await store.aget(namespaces.user_memories(user), "m") is None
    assert await store.aget(namespaces.user_memories(other), "m") is not None


async def test_cleanup_refuses_bad_arguments(store, capsys):
    code, _, err = await run(capsys, store, "cleanup", "", "--older-than", "1")
    assert code == 2 and "needs a namespace prefix" in err
    with pytest.raises(SystemExit) as caught:
        await run(capsys, store, "cleanup", "session", "--older-than", "-1")
    assert caught.value.code == 2
    assert "non-negative" in capsys.readouterr().err


# --- the configured store, from the environment -------------------------------------------


def cli_env(monkeypatch, uri: str, dims: str = "64") -> dict[str, str]:
    env = {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": uri,
        "MEMORY_EMBEDDINGS": "hash",
        "MEMORY_EMBEDDING_DIMS": dims,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_commands_use_the_configured_store_across_invocations(monkeypatch, capsys, fresh_database):
    cli_env(monkeypatch, fresh_database)
    assert main(["put", "user/ada@example.com/profile", "name", '{"value": "Ada"}']) == 0
    capsys.readouterr()
    assert main(["get", "user/ada@example.com/profile", "name"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == {"value": "Ada"}


def test_the_installed_entry_point(fresh_database):
    env = {
        **os.environ,
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": fresh_database,
        "MEMORY_EMBEDDINGS": "none",
    }
    entry = Path(sys.executable).parent / "memory-casts"
    put = subprocess.run(
        [str(entry), "put", "team/acme/workspace", "status", '{"content": "green"}'],
        env=env,
        capture_output=True,
        text=True,
    )
    assert put.returncode == 0, put.stderr
    stats = subprocess.run([str(entry), "stats"], env=env, capture_output=True, text=True)
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.splitlines() == ["1  team/acme/workspace", "total: 1 items in 1 namespaces"]
    bad = subprocess.run([str(entry), "ls", "tea.m"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "separated by '/'" in bad.stderr


# --- reindex -------------------------------------------------------------------------------


def rows(uri: str, sql: str) -> list[tuple]:
    with psycopg.connect(uri) as conn:
        return conn.execute(sql).fetchall()


async def test_reindex_after_the_dimensions_changed(monkeypatch, capsys, fresh_database, tmp_path):
    old = settings_for("postgres", fresh_database, tmp_path, MEMORY_EMBEDDING_DIMS="64")
    memories = namespaces.user_memories("ada@example.com")
    async with open_store(old) as store:
        await store.aput(memories, "cat", {"content": "my cat is called Miso"})
        await store.aput(memories, "job", {"content": "works as a carpenter"})
        await store.aput(("user", "x", "profile"), "name", {"value": "no content field"})
        await write_scratch(
            store, "ada@example.com", "s1", {"draft": {"text": "x"}}, ttl_minutes=60
        )
    before = rows(fresh_database, "SELECT prefix, key, updated_at, expires_at FROM store")

    cli_env(monkeypatch, fresh_database, dims="32")
    capsys.readouterr()
    assert await amain(["reindex"]) == 0
    out = capsys.readouterr().out
    assert "dropped the 64-dimension vectors" in out and "re-embedded 4 items" in out

    after = rows(fresh_database, "SELECT prefix, key, updated_at, expires_at FROM store")
    assert sorted(after) == sorted(before)
    assert any(expires is not None for *_, expires in after)
    (dims,) = rows(
        fresh_database,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'store_vectors'::regclass AND attname = 'embedding'",
    )
    assert dims == ("vector(32)",)
    vectors = rows(fresh_database, "SELECT prefix, key FROM store_vectors ORDER BY key")
    assert [key for _, key in vectors] == ["cat", "job"]

    new = settings_for("postgres", fresh_database, tmp_path, MEMORY_EMBEDDING_DIMS="32")
    async with open_store(new) as store:
        found = await store.asearch(memories, query="cat called Miso", limit=1)
        assert found[0].key == "cat" and found[0].score is not None
        assert (await recall(store, memories, "carpenter", limit=1))[0].key == "job"

    capsys.readouterr()
    assert await amain(["reindex"]) == 0
    assert "dropped" not in capsys.readouterr().out


async def test_reindex_needs_postgres_and_embeddings(monkeypatch, capsys, fresh_database):
    monkeypatch.setenv("MEMORY_BACKEND", "memory")
    monkeypatch.setenv("MEMORY_EMBEDDINGS", "hash")
    capsys.readouterr()
    assert await amain(["reindex"]) == 2
    assert "reindex needs PostgreSQL" in capsys.readouterr().err
    cli_env(monkeypatch, fresh_database)
    monkeypatch.setenv("MEMORY_EMBEDDINGS", "none")
    assert await amain(["reindex"]) == 2
    assert "MEMORY_EMBEDDINGS is none" in capsys.readouterr().err
