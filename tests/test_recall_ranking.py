"""The ranking pieces without a store: stemming, BM25, fusion."""

from __future__ import annotations

import pytest

from casts.memory.recall.fusion import Weights, fuse
from casts.memory.recall.lexical import bm25_scores, stem, terms


@pytest.mark.parametrize(
    ("words", "same"),
    [
        (["paint", "paints", "painted", "painting"], True),
        (["swim", "swimming", "swims"], True),
        (["story", "stories"], True),
        (["hike", "hiking", "hiked"], True),
        (["fall", "falls"], True),
        (["camp", "cam"], False),
    ],
)
def test_stem_merges_inflections_only(words, same):
    assert (len({stem(word) for word in words}) == 1) is same


def test_terms_drop_stop_words_and_punctuation():
    assert terms("When did Ana's kids go to the zoo?") == ("ana", "kid", "go", "zoo")


def test_bm25_prefers_rare_terms_and_shorter_documents():
    documents = [
        "ana went to the zoo",
        "ana went to the park",
        "ana went to the park with a very long and winding story about the zoo trip",
        "nothing relevant",
    ]
    scores = bm25_scores("ana zoo", documents)
    assert scores[0] > scores[2] > scores[1] > scores[3] == 0.0
    assert bm25_scores("the of", documents) == [0.0] * 4
    assert bm25_scores("zoo", []) == []


def test_fuse_follows_the_weighted_signal():
    lexical = {"a": 10.0, "b": 5.0, "c": 1.0}
    semantic = {"c": 0.9, "d": 0.5, "b": 0.1}
    lexical_only = [key for key, _ in fuse(lexical, semantic, Weights(lexical=1.0))]
    assert lexical_only[:3] == ["a", "b", "c"]
    semantic_only = [key for key, _ in fuse(lexical, semantic, Weights(lexical=0.0))]
    assert semantic_only[:2] == ["c", "d"]
    blended = dict(fuse(lexical, semantic, Weights(lexical=0.5)))
    assert set(blended) == {"a", "b", "c", "d"}
    assert all(0.0 <= score <= 1.0 for score in blended.values())


def test_fuse_ranks_an_item_strong_in_both_signals_first():
    lexical = {"both": 8.0, "words": 9.0, "weak": 1.0}
    semantic = {"both": 0.8, "meaning": 0.9, "weak": 0.1}
    ranked = [key for key, _ in fuse(lexical, semantic, Weights(lexical=0.5))]
    assert ranked[0] == "both"
    assert ranked[-1] == "weak"


def test_a_better_lexical_score_never_lowers_an_item():
    semantic = {"a": 0.9, "b": 0.5, "c": 0.1}
    before = [key for key, _ in fuse({"a": 1.0, "b": 2.0, "c": 3.0}, semantic, Weights())]
    after = [key for key, _ in fuse({"a": 1.0, "b": 9.0, "c": 3.0}, semantic, Weights())]
    assert after.index("b") <= before.index("b")


@pytest.mark.parametrize("limit", [1, 10, 25, 40, 100])
def test_each_signal_offers_at_least_as_many_candidates_as_asked_for(limit):
    assert Weights(candidates=50).pool(limit) >= max(limit, 50)
