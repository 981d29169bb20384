"""A user's long-term memories: remember without duplicates, recall, forget.

Memories live in ``namespaces.user_memories(user_id)``, one ``records.Memory`` per item; the
semantic index embeds its ``content``. Every cast (the memory agent's tools, the CLI, the
evaluation) goes through these functions, so "is this a duplicate?" is decided in one place.

Deduplication, kept simple and general:

1. The key of a new memory is derived from its normalized text (case, punctuation and
   spacing ignored), so the same fact said twice -- even by two threads at once -- lands on
   the same key.
2. A fact that restates an existing memory in slightly different words is found through
   the one recall path (``casts.memory.recall.recall``): when a top hit shares at least
   ``NEAR_DUPLICATE_OVERLAP`` of its words with the new fact (Jaccard overlap of the word
   sets), that memory is updated with the newer wording instead of a second one being added.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

from langgraph.store.base import BaseStore, GetOp, PutOp, SearchItem

from casts.memory import namespaces
from casts.memory.clock import iso_now
from casts.memory.errors import InvalidValueError, MemoryNotFoundError
from casts.memory.recall import recall
from casts.memory.records import Memory, parse_record
from casts.memory.textkeys import normalize_text, text_key
from casts.memory.values import validate_key

MemoryKind = Literal["fact", "event", "preference", "instruction", "note"]

NEAR_DUPLICATE_OVERLAP = 0.8
"""Share of words two memories must have in common to count as the same fact."""
DUPLICATE_CANDIDATES = 3
"""How many recall hits are checked for a near-duplicate."""
MAX_RECALL_LIMIT = 50
KEY_PREFIX = "mem-"


class Remembered(NamedTuple):
    """What ``remember`` did: the memory's key and whether it was new.

    Unpacks as ``key, status = await remember(...)``.
    """

    key: str
    status: Literal["created", "updated"]


def memory_key(content: str) -> str:
    """The key a new memory with this content gets; equal for normalized-equal texts."""
    return text_key(KEY_PREFIX, content)


def word_overlap(first: str, second: str) -> float:
    """Jaccard overlap of the two texts' word sets, from 0.0 (none) to 1.0 (same words)."""
    a, b = set(normalize_text(first).split()), set(normalize_text(second).split())
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _near_duplicate(content: str, hits: Iterable[SearchItem]) -> SearchItem | None:
    """The first hit that restates ``content``, if any."""
    for hit in hits:
        existing = hit.value.get("content")
        if isinstance(existing, str) and word_overlap(content, existing) >= NEAR_DUPLICATE_OVERLAP:
            return hit
    return None


async def remember(
    store: BaseStore,
    user_id: str,
    content: str,
    *,
    kind: MemoryKind = "fact",
    source: str | None = None,
    confidence: float = 1.0,
) -> Remembered:
    """Store a memory about a user, or update the existing memory it restates.

    The whole record is validated before anything is written; an update keeps the
    original ``created_at`` and takes the new wording, kind, source and confidence.

    Args:
        store: The project's store.
        user_id: Whose memory this is (resolved from the run, never from the model).
        content: The fact, in one or a few sentences.
        kind: What sort of memory it is.
        source: Where it came from (e.g. the thread), for provenance.
        confidence: How sure the agent is, from 0.0 to 1.0.

    Returns:
        The key and ``"created"`` or ``"updated"``.

    Raises:
        InvalidValueError: A field is invalid (``memory.content``, ``memory.confidence``);
            nothing was written.
    """
    record = parse_record(
        Memory,
        {"content": content, "kind": kind, "source": source, "confidence": confidence},
        field="memory",
    )
    namespace = namespaces.user_memories(user_id)
    key = memory_key(record.content)
    (same_text,) = await store.abatch([GetOp(namespace, key)])
    target: Any = same_text
    if target is None:
        hits = await recall(store, namespace, record.content, limit=DUPLICATE_CANDIDATES)
        target = _near_duplicate(record.content, hits)
    if target is None:
        await store.abatch([PutOp(namespace, key, record.to_value())])
        return Remembered(key, "created")
    created_at = target.value.get("created_at")
    updated = record.model_copy(
        update={"created_at": created_at or record.created_at, "updated_at": iso_now()}
    )
    await store.abatch([PutOp(namespace, target.key, updated.to_value())])
    return Remembered(target.key, "updated")


def _check_query(query: Any, limit: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidValueError("query", "must be a non-empty string")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RECALL_LIMIT:
        raise InvalidValueError("limit", f"must be a whole number from 1 to {MAX_RECALL_LIMIT}")
    return query.strip()


async def recall_memories(
    store: BaseStore, user_id: str, query: str, limit: int = 5
) -> list[SearchItem]:
    """The user's memories most relevant to ``query``, best first (the one recall path).

    Raises:
        InvalidValueError: ``query`` is empty or ``limit`` is out of range.
    """
    query = _check_query(query, limit)
    return await recall(store, namespaces.user_memories(user_id), query, limit=limit)


async def forget(store: BaseStore, user_id: str, key: str) -> None:
    """Delete one of the user's memories.

    Raises:
        InvalidValueError: ``key`` is not a valid key.
        MemoryNotFoundError: The user has no memory under ``key`` (nothing was deleted).
    """
    validate_key(key)
    namespace = namespaces.user_memories(user_id)
    (existing,) = await store.abatch([GetOp(namespace, key)])
    if existing is None:
        raise MemoryNotFoundError(
            f"No memory with key {key!r} for this user; recall memories to see their keys."
        )
    await store.abatch([PutOp(namespace, key, None)])


def describe(item: SearchItem) -> dict[str, Any]:
    """A memory as shown to a model: its key (to forget it) and its content.

    Tolerant of items other writers left in the namespace (e.g. LangMem's
    ``{"content": ...}``), which lack the other ``Memory`` fields.
    """
    value = item.value
    described = {"key": item.key, "content": value.get("content")}
    for name in ("kind", "confidence", "updated_at"):
        if name in value:
            described[name] = value[name]
    return described
