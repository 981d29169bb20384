"""A namespace's recall data held in memory and scored with numpy.

Recall over a user's 10k memories inside PostgreSQL has to touch every one of their
vectors (an exact scan; LangGraph's HNSW index covers all users, so it cannot be scoped to
one) and plan a large statement: about 10 ms a turn, whatever the indexes. Held in memory
as one matrix and an inverted index, the same scoring takes well under a millisecond.
``casts.memory.recall_cache`` keeps such an index per namespace current with the database;
this module only holds and scores one.

Scoring is the one ``casts.memory.recall`` uses on InMemoryStore: BM25 over the terms of
the indexed text (``lexical.bm25_scores``: statistics over the live items in scope,
length = distinct terms, tf capped) and cosine similarity of the store's embeddings (an
item with several embedded fields scores by its best one). Each signal's candidates come
back in rank order, ties by namespace and key.

Items sit in append-only slots; a removed or replaced item's slot is marked dead and the
arrays are compacted once dead slots outnumber live ones.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from langgraph.store.base import SearchItem

from casts.memory.embeddings import INDEXED_FIELDS
from casts.memory.fusion import Candidates, ItemId
from casts.memory.lexical import K1, MAX_TERM_FREQUENCY, B

_NEVER = math.inf
_MIN_CAPACITY = 64
_MIN_DEAD_TO_COMPACT = 1_024


def indexed_text(value: dict[str, Any]) -> str:
    """The text of a value that recall reads: its indexed fields, joined."""
    parts = [value.get(field) for field in INDEXED_FIELDS]
    return " ".join(part for part in parts if isinstance(part, str))


@dataclass
class IndexedItem:
    """One item as the index keeps it.

    Attributes:
        item: The item, returned as a candidate.
        counts: Its terms and how often each occurs (``lexical.term_counts``).
        vectors: Its embeddings, one per embedded field (none: not semantically searchable).
        expires_at: When it expires, in epoch seconds (``math.inf``: never).
        has_ttl: Whether it carries a TTL (its expiry is refreshed when recall returns it).
        item_id: The item's namespace and key (derived from ``item``).
    """

    item: SearchItem
    counts: Counter[str]
    vectors: list[np.ndarray] = field(default_factory=list)
    expires_at: float = _NEVER
    has_ttl: bool = False
    item_id: ItemId = field(init=False)

    def __post_init__(self) -> None:
        self.item_id = (tuple(self.item.namespace), self.item.key)


class _Postings:
    """The slots holding one term, with the term's capped frequency in each."""

    def __init__(self) -> None:
        self.slots: list[int] = []
        self.frequencies: list[int] = []
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, slot: int, frequency: int) -> None:
        self.slots.append(slot)
        self.frequencies.append(min(frequency, MAX_TERM_FREQUENCY))
        self._arrays = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Slots and frequencies as arrays, converted once per change of the term."""
        if self._arrays is None:
            self._arrays = (
                np.array(self.slots, dtype=np.int64),
                np.array(self.frequencies, dtype=np.float64),
            )
        return self._arrays


class RecallIndex:
    """The items of one namespace (and its sub-namespaces), ready to score for recall."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._slots: dict[ItemId, int] = {}
        self._items: list[IndexedItem | None] = []
        self._live = np.zeros(_MIN_CAPACITY, dtype=bool)
        self._expires = np.full(_MIN_CAPACITY, _NEVER)
        self._lengths = np.zeros(_MIN_CAPACITY)
        self._postings: dict[str, _Postings] = {}
        self._vectors: np.ndarray | None = None
        self._vector_owners = np.zeros(_MIN_CAPACITY, dtype=np.int64)
        self._vector_count = 0
        self._several_vectors = False

    def __len__(self) -> int:
        """How many items the index holds (expired ones included until removed)."""
        return len(self._slots)

    def put(self, entry: IndexedItem) -> None:
        """Add ``entry``, replacing the item of the same namespace and key."""
        self.remove(entry.item_id)
        slot = len(self._items)
        self._grow_items(slot + 1)
        self._items.append(replace(entry, vectors=[]))  # they live in the matrix only
        self._slots[entry.item_id] = slot
        self._live[slot] = True
        self._expires[slot] = entry.expires_at
        self._lengths[slot] = len(entry.counts)
        for term, frequency in entry.counts.items():
            self._postings.setdefault(term, _Postings()).add(slot, frequency)
        for vector in entry.vectors:
            self._add_vector(slot, vector)
        self._several_vectors |= len(entry.vectors) > 1

    def remove(self, item_id: ItemId) -> None:
        """Forget the item (nothing happens when the index does not hold it)."""
        slot = self._slots.pop(item_id, None)
        if slot is None:
            return
        self._items[slot] = None
        self._live[slot] = False
        if len(self._items) - len(self._slots) > max(_MIN_DEAD_TO_COMPACT, len(self._slots)):
            self._compact()

    def put_all(self, entries: Iterable[IndexedItem]) -> None:
        """``put`` each entry."""
        for entry in entries:
            self.put(entry)

    def get(self, item_id: ItemId, *, now: float) -> IndexedItem | None:
        """The item, unless the index does not hold it or it expired by ``now``."""
        slot = self._slots.get(item_id)
        entry = None if slot is None else self._items[slot]
        return entry if entry is not None and entry.expires_at > now else None

    def live(self, *, now: float) -> list[IndexedItem]:
        """Every item not expired by ``now``, in no particular order."""
        return [entry for entry in self._items if entry is not None and entry.expires_at > now]

    def candidates(
        self,
        query_terms: Sequence[str],
        query_vector: Sequence[float] | None,
        *,
        pool: int,
        now: float,
    ) -> Candidates:
        """Each signal's top ``pool`` live items for the query.

        Args:
            query_terms: The query's terms; empty leaves the lexical signal out.
            query_vector: The query's embedding; None leaves the semantic signal out.
            pool: How many candidates each signal contributes at most.
            now: The current time in epoch seconds; items expired by then are left out.
        """
        found = Candidates()
        count = len(self._items)
        live = self._live[:count] & (self._expires[:count] > now)
        if query_terms:
            scores = self._bm25(set(query_terms), live)
            found.lexical = self._top(scores, scores > 0, pool)
        if query_vector is not None and self._vector_count:
            scores = self._cosine(np.asarray(query_vector, dtype=np.float32), count)
            found.semantic = self._top(scores, live & np.isfinite(scores), pool)
        for item_id in [*found.lexical, *found.semantic]:
            entry = self._items[self._slots[item_id]]
            assert entry is not None
            found.items[item_id] = entry.item
            if entry.has_ttl:
                found.expiring.add(item_id)
        return found

    def _bm25(self, query_terms: set[str], live: np.ndarray) -> np.ndarray:
        """BM25 of every slot (0 for dead and expired ones), as ``lexical.bm25_scores``."""
        scores = np.zeros(len(live))
        total = int(live.sum())
        if not total:
            return scores
        average = float(self._lengths[: len(live)][live].mean()) or 1.0
        for term in sorted(query_terms):
            postings = self._postings.get(term)
            if postings is None:
                continue
            slots, frequencies = postings.arrays()
            kept = live[slots]
            slots, frequencies = slots[kept], frequencies[kept]
            if not len(slots):
                continue
            frequency = len(slots)
            idf = math.log(1 + (total - frequency + 0.5) / (frequency + 0.5))
            norm = K1 * (1 - B + B * self._lengths[slots] / average)
            scores[slots] += idf * frequencies * (K1 + 1) / (frequencies + norm)
        return scores

    def _cosine(self, query: np.ndarray, count: int) -> np.ndarray:
        """Each slot's best cosine similarity to ``query`` (-inf without a vector)."""
        assert self._vectors is not None
        norm = float(np.linalg.norm(query))
        vectors = self._vectors[: self._vector_count]
        similarity = vectors @ (query / norm if norm else query)
        owners = self._vector_owners[: self._vector_count]
        best = np.full(count, -np.inf)
        if self._several_vectors:
            np.maximum.at(best, owners, similarity)
        else:  # one vector per slot: plain assignment, many times faster
            best[owners] = similarity
        return best

    def _top(self, scores: np.ndarray, eligible: np.ndarray, pool: int) -> dict[ItemId, float]:
        """The ``pool`` best eligible slots as item id -> score, best first, ties by id."""
        slots = np.flatnonzero(eligible)
        if len(slots) > pool:
            values = scores[slots]
            threshold = np.partition(values, len(slots) - pool)[len(slots) - pool]
            slots = slots[values >= threshold]
        items = self._items
        ranked = sorted(
            zip(
                (-scores[slots]).tolist(),
                [items[slot].item_id for slot in slots.tolist()],  # type: ignore[union-attr]
                strict=True,
            )
        )
        return {item_id: -negated for negated, item_id in ranked[:pool]}

    def _add_vector(self, slot: int, vector: np.ndarray) -> None:
        """Store ``vector`` unit-length (a zero vector stays zero: similarity 0)."""
        vector = np.asarray(vector, dtype=np.float32)
        if self._vectors is None:
            self._vectors = np.zeros((_MIN_CAPACITY, len(vector)), dtype=np.float32)
        row = self._vector_count
        if row == len(self._vectors):
            self._vectors = np.concatenate([self._vectors, np.zeros_like(self._vectors)])
            self._vector_owners = np.concatenate(
                [self._vector_owners, np.zeros_like(self._vector_owners)]
            )
        norm = float(np.linalg.norm(vector))
        self._vectors[row] = vector / norm if norm else vector
        self._vector_owners[row] = slot
        self._vector_count += 1

    def _grow_items(self, size: int) -> None:
        if size <= len(self._live):
            return
        capacity = max(size, 2 * len(self._live))
        self._live = np.concatenate([self._live, np.zeros(capacity - len(self._live), bool)])
        self._expires = np.concatenate(
            [self._expires, np.full(capacity - len(self._expires), _NEVER)]
        )
        self._lengths = np.concatenate([self._lengths, np.zeros(capacity - len(self._lengths))])

    def _compact(self) -> None:
        """Rebuild from the live items, dropping dead slots, postings and vectors."""
        vectors: dict[int, list[np.ndarray]] = {}
        if self._vectors is not None:
            for row in range(self._vector_count):
                slot = int(self._vector_owners[row])
                if self._items[slot] is not None:
                    vectors.setdefault(slot, []).append(self._vectors[row].copy())
        entries = [
            replace(entry, vectors=vectors.get(slot, []))
            for slot, entry in enumerate(self._items)
            if entry is not None
        ]
        self._reset()
        self.put_all(entries)
