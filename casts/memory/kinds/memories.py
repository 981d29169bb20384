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
   recall path, ``casts.memory.recall.search.recall``) are only *reported*, with their keys, so the
   caller -- usually a model -- can decide.
3. A memory changes only when the caller names it: ``remember(..., key=<its key>)`` replaces
   that memory (which must exist) with the new content, keeping its ``created_at``. The new
   content is stored under the key derived from it, so rule 1 keeps holding afterwards.
4. A memory that stopped being true is *superseded*, never deleted: ``supersede`` stores the
   new memory and marks the old one ``status="superseded"`` with ``superseded_at`` and
   ``superseded_by`` (the new key). Recall (``recall_memories``, the agent's prompt) shows
   current memories only (``CURRENT``); the history stays in the namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from langgraph.store.base import BaseStore, GetOp, Item, PutOp, SearchItem

from casts.memory.core import namespaces
from casts.memory.core.errors import InvalidValueError, MemoryNotFoundError
from casts.memory.core.namespaces import Namespace, normalize_text, text_key
from casts.memory.core.records import Memory, Provenance, iso_now, parse_record
from casts.memory.core.values import validate_key
from casts.memory.recall.search import recall

MemoryKind = Literal["fact", "event", "preference", "instruction", "note"]

SIMILAR_OVERLAP = 0.5
"""Share of words a memory must have in common with a new one to be reported as similar."""
SIMILAR_CANDIDATES = 3
"""How many recall hits are checked for similar memories."""
MAX_RECALL_LIMIT = 50
KEY_PREFIX = "mem-"
MAX_PROVENANCE = 20
"""A memory keeps the provenance of its latest this many statements."""
CURRENT: dict[str, Any] = {"status": {"$ne": "superseded"}}
"""Recall filter for memories still true (a memory without ``status`` is current)."""
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
            confidence), ``"updated"`` (the memory named by ``key=`` was replaced, see
            ``replaced``) or ``"superseded"`` (``supersede`` kept the memory in
            ``replaced``, marked as no longer true).
        replaced: For ``"updated"`` and ``"superseded"``: the earlier memory and its content.
        similar: For ``"created"``: existing memories that share many words with the new
            one; they were left untouched.
    """

    key: str
    content: str
    status: Literal["created", "confirmed", "updated", "superseded"]
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
    occurred_at: str | None = None,
    provenance: Provenance | None = None,
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
        occurred_at: For an event, when it happened (ISO 8601).
        provenance: Where the statement came from; added to the provenance the memory
            already has, so a confirmation keeps every earlier one (up to ``MAX_PROVENANCE``).

    Returns:
        What was stored: key, content, status, and the replaced or similar memories.

    Raises:
        InvalidValueError: A field is invalid (``memory.content``, ``memory.confidence``,
            ``key``, also when the user has no memory under ``key``); nothing was written.
    """
    record = new_record(content, kind, source, confidence, occurred_at, provenance)
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
        hits = await recall_current(store, namespace, record.content, SIMILAR_CANDIDATES)
        similar = _similar(record.content, hits)
    else:
        record = _continuing(record, earlier)
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


def new_record(
    content: str,
    kind: MemoryKind,
    source: str | None,
    confidence: float,
    occurred_at: str | None,
    provenance: Provenance | None,
) -> Memory:
    """The validated record of a new statement.

    Raises:
        InvalidValueError: Naming the field (``memory.content``, ``memory.occurred_at``).
    """
    record = parse_record(
        Memory,
        {
            "content": content,
            "kind": kind,
            "source": source,
            "confidence": confidence,
            "occurred_at": occurred_at,
            "provenance": None if provenance is None else [provenance.model_dump()],
        },
        field="memory",
    )
    if not normalize_text(record.content):
        raise InvalidValueError("memory.content", "must say something, not only punctuation")
    return record


def _continuing(record: Memory, earlier: Item) -> Memory:
    """``record`` taking over ``earlier``: its ``created_at`` and its provenance are kept."""
    history = earlier.value.get("provenance")
    kept = history if isinstance(history, list) else []
    provenance = [*kept, *(record.provenance or [])][-MAX_PROVENANCE:] or None
    return parse_record(
        Memory,
        {
            **record.model_dump(),
            "created_at": earlier.value.get("created_at") or record.created_at,
            "provenance": provenance and [dict(entry) for entry in provenance],
        },
        field="memory",
    )


async def supersede(
    store: BaseStore,
    user_id: str,
    key: str,
    content: str,
    *,
    kind: MemoryKind = "fact",
    source: str | None = None,
    confidence: float = 1.0,
    occurred_at: str | None = None,
    provenance: Provenance | None = None,
) -> Remembered:
    """Record that the memory ``key`` stopped being true and ``content`` holds instead.

    The old memory is kept, marked ``status="superseded"`` with ``superseded_at`` and
    ``superseded_by``; both items are written in one batch, after everything is validated.
    When ``content`` is already remembered, that memory is confirmed and becomes the
    successor.

    Raises:
        InvalidValueError: A field is invalid (``memory.content``, ``key``), the user has
            no current memory ``key``, or ``content`` says the same as it (confirm it
            instead); nothing was written.
    """
    record = new_record(content, kind, source, confidence, occurred_at, provenance)
    validate_key(key)
    namespace = namespaces.user_memories(user_id)
    new_key = memory_key(record.content)
    if new_key == key:
        raise InvalidValueError(
            "content", f"says the same as memory {key!r}; confirm it instead of superseding"
        )
    found = await _read(store, namespace, [key, new_key])
    old = found[key]
    if old is None or old.value.get("status") == "superseded":
        raise InvalidValueError(
            "key", f"there is no current memory {key!r} for this user; recall to see the keys"
        )
    if found[new_key] is not None:
        record = _continuing(record, found[new_key])
    retired = {**old.value, "status": "superseded", "superseded_at": iso_now()}
    retired["superseded_by"] = new_key
    await store.abatch(
        [
            PutOp(namespace, new_key, record.to_value()),
            PutOp(namespace, key, parse_record(Memory, retired, field="memory").to_value()),
        ]
    )
    return Remembered(
        new_key, record.content, "superseded", replaced=MemoryRef(key, _content_of(old))
    )


def _check_query(query: Any, limit: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidValueError("query", "must be a non-empty string")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RECALL_LIMIT:
        raise InvalidValueError("limit", f"must be a whole number from 1 to {MAX_RECALL_LIMIT}")
    return query.strip()


async def recall_memories(
    store: BaseStore, user_id: str, query: str, limit: int = 5
) -> list[SearchItem]:
    """The user's current memories most relevant to ``query``, best first (the one recall path).

    Superseded memories are left out: they are history, not what is true now.

    Raises:
        InvalidValueError: ``query`` is empty or ``limit`` is out of range.
    """
    query = _check_query(query, limit)
    return await recall_current(store, namespaces.user_memories(user_id), query, limit)


async def recall_current(
    store: BaseStore, namespace: Namespace, query: str, limit: int
) -> list[SearchItem]:
    """Recall's best current memories.

    Most memories are current, so twice ``limit`` are recalled without a filter and the
    superseded ones dropped; only when that leaves too few while more may exist is the
    recall repeated with the ``CURRENT`` filter.
    """
    hits = await recall(store, namespace, query, limit=2 * limit)
    current = [hit for hit in hits if hit.value.get("status") != "superseded"]
    if len(current) >= limit or len(hits) < 2 * limit:
        return current[:limit]
    return await recall(store, namespace, query, limit=limit, filter=CURRENT)


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
