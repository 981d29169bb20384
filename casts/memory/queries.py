"""Reading whole namespaces: ``search`` stops at ``limit`` (10 by default), so page.

The design note's "get all items" loop silently stops after ten items; everything here pages
until a short page says there is nothing more.
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore, Item, SearchItem, SearchOp

from casts.memory.namespaces import Namespace

PAGE_SIZE = 500


async def asearch_all(
    store: BaseStore,
    *prefixes: Namespace,
    filter: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
) -> list[list[SearchItem]]:
    """Every item under each prefix, pages of all prefixes fetched in one batch per round.

    Returns:
        One list of items per prefix, in the order given.
    """
    found: list[list[SearchItem]] = [[] for _ in prefixes]
    pending = list(range(len(prefixes)))
    while pending:
        ops = [
            SearchOp(prefixes[i], filter=filter, limit=page_size, offset=len(found[i]))
            for i in pending
        ]
        pages = await store.abatch(ops)
        still: list[int] = []
        for i, page in zip(pending, pages, strict=True):
            found[i].extend(page or [])
            if len(page or []) == page_size:
                still.append(i)
        pending = still
    return found


def values_by_key(items: list[SearchItem] | list[Item]) -> dict[str, dict[str, Any]]:
    """Map item keys to values."""
    return {item.key: item.value for item in items}
