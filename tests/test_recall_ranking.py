"""The ranking pieces without a store: stemming, BM25, fusion."""

from __future__ import annotations

import pytest

from casts.memory.fusion import Weights, fuse
from casts.memory.lexical import bm25_scores, stem, terms


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


def test_fuse_blends_normalised_scores():
    lexical = {"a": 10.0, "b": 5.0, "c": 1.0}
    semantic = {"c": 0.9, "d": 0.5, "b": 0.1}
    assert [key for key, _ in fuse(lexical, semantic, Weights(lexical=1.0))][:3] == [
        "a",
        "b",
        "c",
    ]
    assert next(key for key, _ in fuse(lexical, semantic, Weights(lexical=0.0))) == "c"
    blended = dict(fuse(lexical, semantic, Weights(lexical=0.5)))
    assert blended["a"] == pytest.approx(0.5)
    assert blended["c"] == pytest.approx(0.5)
    assert blended["b"] == pytest.approx(0.5 * 4 / 9)
    assert max(blended.values()) <= 1.0


def test_candidate_pool_grows_with_limit():
    assert Weights(candidates=50).pool(10) == 50
    assert Weights(candidates=50).pool(40) == 80
