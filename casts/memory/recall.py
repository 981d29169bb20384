"""The one recall path: find the memories most relevant to a query.

Tools, nodes, the CLI and the evaluation all call ``recall``. (Placeholder ranking: the
store's own search; the recall issue replaces it with hybrid lexical + semantic ranking.)
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore, SearchItem

from casts.memory.namespaces import Namespace


async def recall(
    store: BaseStore,
    namespace: Namespace,
    query: str,
    *,
    limit: int = 5,
    filter: dict[str, Any] | None = None,
) -> list[SearchItem]:
    """The ``limit`` items under ``namespace`` that best match ``query``, best first."""
    return await store.asearch(namespace, query=query, limit=limit, filter=filter)
