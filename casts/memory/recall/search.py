"""The one recall path: find the memories most relevant to a query.

Tools, nodes, the CLI and the evaluation all call ``recall``. It ranks by two signals --
BM25 over the words of each memory's ``content`` and the embedding similarity of the store's
index -- fused by ``casts.memory.recall.fusion``. The stock ``store.search(query=...)`` ranks by the
embedding alone and misses names, rare nouns and exact terms that conversational memory
hinges on.

Where the work happens depends on the backend:

- PostgreSQL (``AsyncPostgresStore``): one SQL statement per query, PostgreSQL's full-text
  search plus pgvector (``casts.memory.recall.sql``), of which only the candidates travel
  to Python. Nothing is kept between queries, so every process sees every write at once.
- any other store (InMemoryStore): BM25 in Python over the namespace's items
  (``casts.memory.recall.lexical``), the store's own vector search for the semantic candidates.

Both hand each signal's candidates to the one fusion (``casts.memory.recall.fusion``).

Without embeddings (``MEMORY_EMBEDDINGS=none``) recall is lexical only; when no word of the
query occurs and there is no semantic signal, it returns the store's plain listing.
"""

from __future__ import annotations

import heapq
from typing import Any

from langgraph.store.base import BaseStore, SearchItem, SearchOp
from langgraph.store.postgres.aio import AsyncPostgresStore

from casts.memory.core.namespaces import Namespace
from casts.memory.recall.fusion import Candidates, Explained, Weights
from casts.memory.recall.lexical import bm25_scores, indexed_text
from casts.memory.recall.sql import postgres_candidates, refresh_ttl
from casts.memory.store.guarded import check_op
from casts.memory.store.reading import asearch_all

DEFAULT_WEIGHTS = Weights()


async def recall(
    store: BaseStore,
    namespace: Namespace,
    query: str,
    *,
    limit: int = 5,
    filter: dict[str, Any] | None = None,
) -> list[SearchItem]:
    """The ``limit`` items under ``namespace`` that best match ``query``, best first.

    Each item's ``score`` is its fused score in [0, 1].
    """
    return await hybrid_search(store, namespace, query, limit=limit, filter=filter)


async def hybrid_search(
    store: BaseStore,
    namespace: Namespace,
    query: str,
    *,
    limit: int = 5,
    filter: dict[str, Any] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[SearchItem]:
    """``recall`` with the blend spelled out, for evaluation and tuning.

    Raises:
        InvalidNamespaceError, InvalidValueError: For a bad namespace, filter or limit, as
            the store's own search would.
    """
    check_op(SearchOp(tuple(namespace), filter=filter, limit=limit, query=query))
    if limit == 0:
        return []
    if not query or not query.strip():
        return await store.asearch(namespace, filter=filter, limit=limit)
    candidates = await _candidates(store, namespace, query, filter, weights, limit)
    if not candidates.items:
        return await store.asearch(namespace, filter=filter, limit=limit)
    found = candidates.ranked(weights, limit)
    inner = getattr(store, "inner", store)
    if isinstance(inner, AsyncPostgresStore):
        expiring = [item for item in found if (item.namespace, item.key) in candidates.expiring]
        await refresh_ttl(inner, expiring)
    return found


async def explain(
    store: BaseStore,
    namespace: Namespace,
    query: str,
    *,
    limit: int = 5,
    filter: dict[str, Any] | None = None,
) -> list[Explained]:
    """``recall``'s hits for a non-empty ``query``, each with its lexical and semantic parts.

    For people asking why a memory was recalled (the memory inspector); reading through it
    refreshes no TTL. A query that matches nothing gives no hits (``recall`` would fall
    back to the plain listing, which has no reasons to show).

    Raises:
        InvalidNamespaceError, InvalidValueError: As ``recall``.
    """
    check_op(SearchOp(tuple(namespace), filter=filter, limit=limit, query=query))
    if limit == 0 or not query or not query.strip():
        return []
    candidates = await _candidates(store, namespace, query, filter, DEFAULT_WEIGHTS, limit)
    return candidates.explained(DEFAULT_WEIGHTS, limit)


async def _candidates(
    store: BaseStore,
    namespace: Namespace,
    query: str,
    filter: dict[str, Any] | None,
    weights: Weights,
    limit: int,
) -> Candidates:
    """Each signal's candidates, from SQL on PostgreSQL, else through the store's API."""
    inner = getattr(store, "inner", store)
    if isinstance(inner, AsyncPostgresStore):
        return await postgres_candidates(
            inner, tuple(namespace), query, filter=filter, pool=weights.pool(limit), weights=weights
        )
    return await _python_candidates(
        store, tuple(namespace), query, filter, weights, weights.pool(limit)
    )


async def _python_candidates(
    store: BaseStore,
    namespace: Namespace,
    query: str,
    filter: dict[str, Any] | None,
    weights: Weights,
    pool: int,
) -> Candidates:
    """Candidates through the store's public API, for backends without full-text search."""
    found = Candidates()
    if weights.uses_lexical:
        (everything,) = await asearch_all(store, namespace, filter=filter)
        scores = bm25_scores(query, [indexed_text(item.value) for item in everything])
        best = heapq.nlargest(pool, ((score, i) for i, score in enumerate(scores) if score > 0))
        for score, i in best:
            item = everything[i]
            found.items[(item.namespace, item.key)] = item
            found.lexical[(item.namespace, item.key)] = score
    if weights.uses_semantic and getattr(store, "index_config", None):
        for item in await store.asearch(namespace, query=query, filter=filter, limit=pool):
            if item.score is not None:
                found.items.setdefault((item.namespace, item.key), item)
                found.semantic[(item.namespace, item.key)] = item.score
    return found
