"""Combine the lexical and the semantic ranking of recall into one.

Both backends hand over the same thing -- each signal's top candidates with their raw
scores -- and fuse here, so the blend is written once for InMemoryStore and PostgreSQL.

The blend min-max scales each signal over its own candidates and mixes them with one
weight. A normalised blend keeps how much better the best match is, which reciprocal-rank
fusion throws away (it scored lower on the development conversations: see the README's
*Measuring recall*); an item one signal did not return scores 0 on that signal.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from langgraph.store.base import SearchItem

Id = TypeVar("Id", bound=Hashable)
# A stored item's identity: its namespace and key.
ItemId = tuple[tuple[str, ...], str]

# Tuned on the LoCoMo development conversations (see ``memory-casts eval recall``).
DEFAULT_LEXICAL_WEIGHT = 0.65


@dataclass(frozen=True)
class Weights:
    """How much each signal counts.

    Attributes:
        lexical: Weight of the lexical signal in [0, 1]; the semantic signal gets the rest.
            1.0 is lexical-only, 0.0 semantic-only.
        candidates: How many items each signal contributes at least (more when a larger
            ``limit`` is asked for).
    """

    lexical: float = DEFAULT_LEXICAL_WEIGHT
    candidates: int = 50

    def pool(self, limit: int) -> int:
        """Candidates each signal contributes for a result of ``limit`` items."""
        return max(self.candidates, 2 * limit)

    @property
    def uses_semantic(self) -> bool:
        """Whether the semantic signal counts at all."""
        return self.lexical < 1.0

    @property
    def uses_lexical(self) -> bool:
        """Whether the lexical signal counts at all."""
        return self.lexical > 0.0


def fuse(
    lexical: Mapping[Id, float], semantic: Mapping[Id, float], weights: Weights
) -> list[tuple[Id, float]]:
    """Rank the union of both candidate sets by the weighted, normalised blend.

    Args:
        lexical: BM25 score of each lexical candidate.
        semantic: Cosine similarity of each semantic candidate.
        weights: The blend.

    Returns:
        ``(id, fused score)`` best first; ties keep lexical order, then semantic order.
    """
    fused = {item_id: sum(part) for item_id, part in parts(lexical, semantic, weights).items()}
    order = {item_id: position for position, item_id in enumerate(fused)}
    return sorted(fused.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def parts(
    lexical: Mapping[Id, float], semantic: Mapping[Id, float], weights: Weights
) -> dict[Id, tuple[float, float]]:
    """Each candidate's ``(lexical, semantic)`` share of its fused score (they add up to it).

    Returned in lexical order, then semantic order, which is how ``fuse`` breaks ties.
    """
    lexical_norm = _min_max(lexical)
    semantic_norm = _min_max(semantic)
    return {
        item_id: (
            weights.lexical * lexical_norm.get(item_id, 0.0),
            (1.0 - weights.lexical) * semantic_norm.get(item_id, 0.0),
        )
        for item_id in dict.fromkeys([*lexical, *semantic])
    }


def _min_max(scores: Mapping[Id, float]) -> dict[Id, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high <= low:
        return {item_id: 1.0 for item_id in scores}
    return {item_id: (score - low) / (high - low) for item_id, score in scores.items()}


@dataclass
class Candidates:
    """What a backend found for one query: the items and each signal's raw scores.

    Attributes:
        items: The candidate items by ``(namespace, key)``.
        lexical: BM25 score of the lexical candidates.
        semantic: Cosine similarity of the semantic candidates.
        expiring: The candidates that carry a TTL (only these need it refreshed on read).
    """

    items: dict[ItemId, SearchItem] = field(default_factory=dict)
    lexical: dict[ItemId, float] = field(default_factory=dict)
    semantic: dict[ItemId, float] = field(default_factory=dict)
    expiring: set[ItemId] = field(default_factory=set)

    def ranked(self, weights: Weights, limit: int) -> list[SearchItem]:
        """The best ``limit`` items, each carrying its fused score."""
        return [
            _with_score(self.items[item_id], score)
            for item_id, score in fuse(self.lexical, self.semantic, weights)[:limit]
        ]

    def explained(self, weights: Weights, limit: int) -> list[Explained]:
        """``ranked``, each hit with the lexical and semantic parts of its score."""
        shares = parts(self.lexical, self.semantic, weights)
        return [
            Explained(
                item,
                *shares[(item.namespace, item.key)],
                bm25=self.lexical.get((item.namespace, item.key)),
                cosine=self.semantic.get((item.namespace, item.key)),
            )
            for item in self.ranked(weights, limit)
        ]


@dataclass(frozen=True)
class Explained:
    """Why a recall hit ranked where it did.

    Attributes:
        item: The hit, its ``score`` the fused score (``lexical + semantic``).
        lexical: The lexical signal's share of the score.
        semantic: The semantic signal's share of the score.
        bm25: The raw BM25 score, or None when the lexical signal did not find the item.
        cosine: The raw embedding similarity, or None when the semantic signal did not.
    """

    item: SearchItem
    lexical: float
    semantic: float
    bm25: float | None = None
    cosine: float | None = None


def _with_score(item: SearchItem, score: float) -> SearchItem:
    return SearchItem(
        namespace=item.namespace,
        key=item.key,
        value=item.value,
        created_at=item.created_at,
        updated_at=item.updated_at,
        score=score,
    )
