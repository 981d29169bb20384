"""The lexical signal of recall: words, a light stemmer, stop words and BM25.

Embeddings miss what conversational memory hinges on: names, rare nouns, exact terms.
BM25 finds them. This is the Python side, used on backends without a full-text engine
(InMemoryStore); on PostgreSQL the same formula runs in SQL (``casts.memory.recall_sql``)
over the same terms, made by a copy of this analyzer that ``casts.memory.analyzer_sql``
builds from the constants below.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

K1 = 1.2
# Length normalisation weaker than the textbook 0.75: memories are all short, and a longer
# one is longer because it says more, not because it repeats itself (tuned on LoCoMo dev).
B = 0.4
# A term counts at most this often in one memory. Memories are short: a word said twice is
# emphasis, more adds nothing. The cap also bounds what a term can add to any score, which
# PostgreSQL's pruning of common terms relies on (``recall_sql.TERM_BOUND``); uncapped, the
# bound is k1 + 1 and the pruning reads far more. On LoCoMo dev hybrid R@10 is 70.3 with
# the cap, 70.1 with a cap of 3 or none.
MAX_TERM_FREQUENCY = 2
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# The stemmer's rules, as data: ``casts.memory.analyzer_sql`` builds PostgreSQL's copy of
# the analyzer from them, so both backends make the same terms of a text.
VOWELS = "aeiouy"
_VOWEL_SET = frozenset(VOWELS)
# Plural "s" stays on words ending so ("glass", "bonus", "basis").
PLURAL_S_KEPT_AFTER = "sui"
# Inflection suffixes, in the order tried: the first one a word ends with is the only one.
SUFFIXES = ("ing", "edly", "ed", "ly")
# "-ly" keeps a doubled consonant ("fully"); the others drop it ("swimming" -> "swim")
# except after these letters ("falling", "passed", "buzzing", vowels).
UNDOUBLE_SUFFIXES = ("ing", "edly", "ed")
# The suffix after which a stem's final "i" becomes "y" ("tried" -> "try").
I_TO_Y_SUFFIX = "ed"
DOUBLES_KEPT = "lsz" + "aeiou"

_STOP_WORDS_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
s t d ll m re ve
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def stem(word: str) -> str:
    """Strip common English inflections so "painting", "painted" and "paints" meet.

    Deliberately light (plural, -ing, -ed, -ly, final e): it only has to make inflected
    forms of the same word agree, and a light stemmer never merges unrelated words the way
    aggressive derivational stemming does.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and word[-2] not in PLURAL_S_KEPT_AFTER:
        word = word[:-1]
    for suffix in SUFFIXES:
        if word.endswith(suffix):
            stem_ = word[: -len(suffix)]
            if len(stem_) >= 3 and _VOWEL_SET & set(stem_):
                if suffix == I_TO_Y_SUFFIX and stem_.endswith("i"):
                    stem_ = stem_[:-1] + "y"
                word = _undouble(stem_) if suffix in UNDOUBLE_SUFFIXES else stem_
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _undouble(word: str) -> str:
    """``swimm`` -> ``swim``, but keep ``fall`` and ``pass``."""
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in DOUBLES_KEPT:
        return word[:-1]
    return word


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


def bm25_scores(
    query: str, documents: Sequence[str], *, k1: float = K1, b: float = B
) -> list[float]:
    """BM25 score of every document for ``query`` (0.0 when no query term occurs).

    Statistics (document frequency, average length) come from ``documents`` themselves:
    the items of the namespace being searched.
    """
    query_terms = set(terms(query))
    if not query_terms or not documents:
        return [0.0] * len(documents)
    counted = [term_counts(document) for document in documents]
    # Length is the number of distinct terms: what PostgreSQL's tsvector gives for free
    # (``length()``; counting repeats there made recall over 100k memories 25% slower at
    # p95), so both backends normalise alike.
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
