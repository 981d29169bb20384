"""Item 2: recall at scale on PostgreSQL.

One user with many memories (100k at full scale) among many other users' items (1M at full
scale); see common.py for how text and vectors are made. For each query, interleaved:

- ``ours``: ``casts.memory.recall.search.recall`` (hybrid: BM25 over PostgreSQL's ``english`` text
  search, a GIN expression index with the prefix, plus pgvector: HNSW with an iterative scan
  for a namespace this large; one SQL statement for the candidates);
- ``stock``: ``store.search(namespace, query=..., limit=5)`` on the raw AsyncPostgresStore.

The query embedding is excluded from both: query vectors are computed before timing and
served from a dict by the store's embeddings object.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from common import (
    DIMS,
    USER_100K,
    arguments,
    dataset,
    emit,
    ensure_dataset,
    postgres,
    query_text,
    settings_for,
    summary_ms,
)
from langchain_core.embeddings import Embeddings

from casts.memory import namespaces
from casts.memory.recall import sql as recall_sql
from casts.memory.recall.search import recall
from casts.memory.store.embeddings import HashEmbeddings
from casts.memory.store.persistence import open_store


async def recall_exact(store: Any, namespace: tuple[str, ...], query: str) -> list[Any]:
    """Our recall with the semantic scan forced exact, whatever the namespace's size."""
    limit = recall_sql.EXACT_SCAN_LIMIT
    recall_sql.EXACT_SCAN_LIMIT = 10**12
    try:
        return await recall(store, namespace, query, limit=5)
    finally:
        recall_sql.EXACT_SCAN_LIMIT = limit


class Precomputed(Embeddings):
    """Query vectors computed before timing; anything else is embedded as usual."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.fallback = HashEmbeddings(DIMS)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors.get(text) or self.fallback.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


async def _plan_uses_hnsw(store: Any, call: Any) -> bool:
    """Run ``call`` once, capture its biggest SQL statement, and EXPLAIN ANALYZE it (untimed).

    ANALYZE, because recall's statement holds both vector plans and runs one: HNSW counts
    when LangGraph's index appears or recall's nearest-vector function (which scans it)
    actually ran.
    """
    import psycopg

    captured: list[tuple[Any, Any]] = []
    original = psycopg.AsyncCursor.execute

    async def execute(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        captured.append((query, params))
        return await original(cursor, query, params, **kwargs)

    psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
    try:
        await call()
    finally:
        psycopg.AsyncCursor.execute = original  # type: ignore[method-assign]
    query, params = max(captured, key=lambda pair: len(str(pair[0])))
    async with store.inner.conn.connection() as conn, conn.cursor() as cursor:
        await cursor.execute(b"EXPLAIN ANALYZE " + str(query).encode(), params)
        plan = [
            str(next(iter(row.values())) if isinstance(row, dict) else row[0])
            for row in await cursor.fetchall()
        ]
    return any(
        "store_vectors_embedding_idx" in line
        or (recall_sql.NEAREST_FUNCTION in line and "never executed" not in line)
        for line in plan
    )


async def hnsw_plans(store: Any, namespace: tuple[str, ...], query: str) -> dict[str, bool]:
    """Whether each way's plan uses LangGraph's HNSW index (EXPLAIN ANALYZE, untimed).

    A plain filtered HNSW scan (the stock search's) takes the nearest vectors of *all* users
    first and filters after, so it can miss the user's nearest memories; recall's scan is
    iterative and goes on until it has found them.
    """
    return {
        "ours": await _plan_uses_hnsw(store, lambda: recall(store, namespace, query, limit=5)),
        "ours_exact_semantic": await _plan_uses_hnsw(
            store, lambda: recall_exact(store, namespace, query)
        ),
        "stock": await _plan_uses_hnsw(
            store, lambda: store.inner.asearch(namespace, query=query, limit=5)
        ),
    }


async def main() -> None:
    args = arguments()
    data = dataset(args.quick)
    queries_n = 40 if args.quick else 200
    warmup = 5
    rng = random.Random(23)
    queries = [query_text(rng) for _ in range(warmup + queries_n)]
    hashed = HashEmbeddings(DIMS)
    vectors = {q: hashed.embed_query(q) for q in queries}
    out: dict[str, Any] = {
        "benchmark": "recall_scale",
        "quick": args.quick,
        "scale": {
            "user_memories": data["measured"][USER_100K],
            "other_items": data["others"] * data["per_other"]
            + sum(n for u, n in data["measured"].items() if u != USER_100K),
            "queries": queries_n,
            "dims": DIMS,
        },
    }
    with postgres(args.data_dir) as (uri, _):
        out["setup"] = await ensure_dataset(uri, **data)
        async with open_store(settings_for(uri)) as store:
            inner = store.inner
            inner.embeddings = Precomputed(vectors)  # query embedding excluded from timing
            namespace = namespaces.user_memories(USER_100K)
            names = ["ours", "stock", "ours_exact_semantic"]
            times: dict[str, list[float]] = {name: [] for name in names}
            counts: dict[str, list[int]] = {name: [] for name in names}
            agree: list[float] = []
            for i, query in enumerate(queries):
                order = names[i % 3 :] + names[: i % 3]
                keys: dict[str, list[str]] = {}
                for name in order:
                    started = time.perf_counter()
                    if name == "ours":
                        found = await recall(store, namespace, query, limit=5)
                    elif name == "stock":
                        found = await inner.asearch(namespace, query=query, limit=5)
                    else:
                        found = await recall_exact(store, namespace, query)
                    elapsed = time.perf_counter() - started
                    keys[name] = [item.key for item in found]
                    if i >= warmup:
                        times[name].append(elapsed)
                        counts[name].append(len(found))
                if i >= warmup:
                    exact = set(keys["ours_exact_semantic"])
                    agree.append(len(exact & set(keys["ours"])) / max(1, len(exact)))
            out["plan_uses_hnsw_index"] = await hnsw_plans(store, namespace, queries[0])
    for name in times:
        out[name] = summary_ms(times[name]) | {
            "queries_with_fewer_than_5_results": sum(1 for c in counts[name] if c < 5)
        }
    out["ours_top5_overlap_with_exact_semantic"] = round(sum(agree) / max(1, len(agree)), 3)
    out["p95_ratio_stock_over_ours"] = round(out["stock"]["p95_ms"] / out["ours"]["p95_ms"], 2)
    out["target"] = "ours p95 <= 50 ms"
    out["meets_target"] = out["ours"]["p95_ms"] <= 50
    emit(out)


if __name__ == "__main__":
    asyncio.run(main())
