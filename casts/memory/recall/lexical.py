"""The lexical signal of recall on backends without a full-text engine (InMemoryStore).

Embeddings miss what conversational memory hinges on: names, rare nouns, exact terms.
BM25 finds them. Terms are made the way PostgreSQL's ``english`` text search makes them --
lower-cased words, its English stop words dropped, the Snowball English stemmer (PyStemmer,
the same algorithm PostgreSQL ships) -- so both backends mostly agree on what a word is.
PostgreSQL's parser still splits some text differently (hyphenated words, e-mail addresses,
URLs, numbers with dots); the conformance tests state what both backends must agree on.
On PostgreSQL the same BM25 runs in SQL (``casts.memory.recall.sql``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import Stemmer

from casts.memory.store.embeddings import INDEXED_FIELDS

K1 = 1.2
# Length normalisation weaker than the textbook 0.75: memories are all short, and a longer
# one is longer because it says more, not because it repeats itself (tuned on LoCoMo dev).
B = 0.4
# A term counts at most this often in one memory. Memories are short: a word said twice is
# emphasis, more adds nothing.
MAX_TERM_FREQUENCY = 2
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# PostgreSQL's ``english`` stop words (share/tsearch_data/english.stop), so that a word is
# ignored on both backends alike.
_STOP_WORDS_TEXT = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
she her hers herself it its itself they them their theirs themselves what which who whom
this that these those am is are was were be been being have has had having do does did
doing a an the and but if or because as until while of at by for with about against
between into through during before after above below to from up down in out on off over
under again further then once here there when where why how all any both each few more
most other some such no nor not only own same so than too very s t can will just don
should now
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_STEMMER = Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """The Snowball English stem of a lower-case word ("painting" -> "paint")."""
    return _STEMMER.stemWord(word)


@lru_cache(maxsize=200_000)
def terms(text: str) -> tuple[str, ...]:
    """The index terms of a text: lower-cased words, stop words dropped, stemmed.

    Cached, because recall over a backend without an index re-reads the same memories for
    every query.
    """
    return tuple(stem(word) for word in _WORD.findall(text.lower()) if word not in STOP_WORDS)


@lru_cache(maxsize=200_000)
def term_counts(text: str) -> Counter[str]:
    """How often each term occurs in ``text`` (cached; callers must not modify it)."""
    return Counter(terms(text))


def indexed_text(value: dict[str, Any]) -> str:
    """The text of a stored value that recall reads: its indexed fields, joined."""
    parts = [value.get(field) for field in INDEXED_FIELDS]
    return " ".join(part for part in parts if isinstance(part, str))


def bm25_scores(
    query: str, documents: Sequence[str], *, k1: float = K1, b: float = B
) -> list[float]:
    """BM25 score of every document for ``query`` (0.0 when no query term occurs).

    Statistics (document frequency, average length) come from ``documents`` themselves:
    the items of the namespace being searched. Length is the number of distinct terms,
    what PostgreSQL's ``length(tsvector)`` gives, so both backends normalise alike.
    """
    query_terms = set(terms(query))
    if not query_terms or not documents:
        return [0.0] * len(documents)
    counted = [term_counts(document) for document in documents]
    lengths = [len(counts) for counts in counted]
    average = (sum(lengths) / len(lengths)) or 1.0
    frequency = Counter(term for counts in counted for term in query_terms & counts.keys())
    total = len(documents)
    idf = {term: math.log(1 + (total - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}
    scores = []
    for counts, length in zip(counted, lengths, strict=True):
        norm = k1 * (1 - b + b * length / average)
        capped = {term: min(counts[term], MAX_TERM_FREQUENCY) for term in idf if term in counts}
        scores.append(sum(idf[term] * tf * (k1 + 1) / (tf + norm) for term, tf in capped.items()))
    return scores
