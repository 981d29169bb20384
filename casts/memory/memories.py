"""A user's long-term memories: remember without losing one, recall, forget.

Memories live in ``namespaces.user_memories(user_id)``, one ``records.Memory`` per item; the
semantic index embeds its ``content``. Every cast (the memory agent's tools, the CLI, the
evaluation) goes through these functions, so "is this the same memory?" is decided in one
place.

Rules, chosen so that remembering never destroys a different memory:

1. The key of a memory is derived from its normalized text (``textkeys.normalize_text``:
   case, spacing and trailing ``.!?;`` ignored, every other symbol kept). Saying exactly the
   same thing again -- even from two threads at once -- lands on the same key and
   *confirms* that memory.
2. Anything else is a *new* memory. Two facts can share almost all their words ("My sister
   lives in Paris" / "My brother lives in Paris") and still be different facts, so no
   similarity score ever decides to overwrite one. Similar memories (found through the one
   recall path, ``casts.memory.recall.recall``) are only *reported*, with their keys, so the
   caller -- usually a model -- can decide.
3. A memory changes only when the caller names it: ``remember(..., key=<its key>)`` replaces
   that memory (which must exist) with the new content, keeping its ``created_at``. The new
   content is stored under the key derived from it, so rule 1 keeps holding afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from langgraph.store.base import BaseStore, GetOp, Item, PutOp, SearchItem

from casts.memory import namespaces
from casts.memory.errors import InvalidValueError, MemoryNotFoundError
from casts.memory.namespaces import Namespace
from casts.memory.recall import recall
from casts.memory.records import Memory, parse_record
from casts.memory.textkeys import normalize_text, text_key
from casts.memory.values import validate_key

MemoryKind = Literal["fact", "event", "preference", "instruction", "note"]

SIMILAR_OVERLAP = 0.5
"""Share of words a memory must have in common with a new one to be reported as similar."""
SIMILAR_CANDIDATES = 3
"""How many recall hits are checked for similar memories."""
MAX_RECALL_LIMIT = 50
KEY_PREFIX = "mem-"
_WORD = re.compile(r"\w+", re.UNICODE)


class MemoryRef(NamedTuple):
    """A memory named by its key and content, as a reply to the model shows it."""

    key: str
    content: str


@dataclass(frozen=True)
class Remembered:
    """What ``remember`` stored, so the caller can say exactly that.

    Attributes:
        key: The key the memory is stored under now.
        content: The content stored under ``key``.
        status: ``"created"`` (a new memory), ``"confirmed"`` (the same text was already
            remembered under ``key``; the memory now has the new wording, kind, source and
            confidence) or ``"updated"`` (the memory named by ``key=`` was replaced, see
            ``replaced``).
        replaced: For ``"updated"``: the memory that was replaced, with its former content.
        similar: For ``"created"``: existing memories that share many words with the new
            one; they were left untouched.
    """

    key: str
    content: str
    status: Literal["created", "confirmed", "updated"]
    replaced: MemoryRef | None = None
    similar: list[MemoryRef] = field(default_factory=list)


def memory_key(content: str) -> str:
    """The key a memory with this content gets; equal for normalized-equal texts."""
    return text_key(KEY_PREFIX, content)


def word_overlap(first: str, second: str) -> float:
    """Jaccard overlap of the two texts' word sets, from 0.0 (none) to 1.0 (same words)."""
    a, b = set(_WORD.findall(first.casefold())), set(_WORD.findall(second.casefold()))
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _similar(content: str, hits: Iterable[SearchItem]) -> list[MemoryRef]:
    """The hits that share at least ``SIMILAR_OVERLAP`` of their words with ``content``."""
    return [
        MemoryRef(hit.key, existing)
        for hit in hits
        if isinstance(existing := hit.value.get("content"), str)
        and word_overlap(content, existing) >= SIMILAR_OVERLAP
    ]


def _content_of(item: Item) -> str:
    content = item.value.get("content")
    return content if isinstance(content, str) else ""


async def _read(store: BaseStore, namespace: Namespace, keys: list[str]) -> dict[str, Item | None]:
    """The items under ``keys`` (None where there is none), in one round trip."""
    keys = list(dict.fromkeys(keys))
    found = await store.abatch([GetOp(namespace, key) for key in keys])
    return dict(zip(keys, found, strict=True))


async def remember(
    store: BaseStore,
    user_id: str,
    content: str,
    *,
    kind: MemoryKind = "fact",
    source: str | None = None,
    confidence: float = 1.0,
    key: str | None = None,
) -> Remembered:
    """Store a memory about a user; replace an existing one only when ``key`` names it.

    The whole record (and ``key``) is validated before anything is written.

    Args:
        store: The project's store.
        user_id: Whose memory this is (resolved from the run, never from the model).
        content: The fact, in one or a few sentences.
        kind: What sort of memory it is.
        source: Where it came from (e.g. the thread), for provenance.
        confidence: How sure the agent is, from 0.0 to 1.0.
        key: The key of the user's memory this one corrects or updates; that memory is
            replaced. Without it an existing memory is only ever confirmed by the same text.

    Returns:
        What was stored: key, content, status, and the replaced or similar memories.

    Raises:
        InvalidValueError: A field is invalid (``memory.content``, ``memory.confidence``,
            ``key``, also when the user has no memory under ``key``); nothing was written.
    """
    record = parse_record(
        Memory,
        {"content": content, "kind": kind, "source": source, "confidence": confidence},
        field="memory",
    )
    if not normalize_text(record.content):
        raise InvalidValueError("memory.content", "must say something, not only punctuation")
    if key is not None:
        validate_key(key)
    namespace = namespaces.user_memories(user_id)
    new_key = memory_key(record.content)
    found = await _read(store, namespace, [new_key] if key is None else [new_key, key])
    replaced = None if key is None else found[key]
    if key is not None and replaced is None:
        raise InvalidValueError(
            "key", f"there is no memory {key!r} for this user; recall memories to see their keys"
        )
    earlier = found[new_key] or replaced
    similar: list[MemoryRef] = []
    if earlier is None:
        hits = await recall(store, namespace, record.content, limit=SIMILAR_CANDIDATES)
        similar = _similar(record.content, hits)
    else:
        created_at = earlier.value.get("created_at")
        record = record.model_copy(update={"created_at": created_at or record.created_at})
    ops = [PutOp(namespace, new_key, record.to_value())]
    if key is not None and key != new_key:
        ops.append(PutOp(namespace, key, None))
    await store.abatch(ops)
    if replaced is not None:
        return Remembered(
            new_key,
            record.content,
            "updated",
            replaced=MemoryRef(replaced.key, _content_of(replaced)),
        )
    if earlier is not None:
        return Remembered(new_key, record.content, "confirmed")
    return Remembered(new_key, record.content, "created", similar=similar)


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
