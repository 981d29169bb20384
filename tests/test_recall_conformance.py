"""What both backends' recall must agree on, though each makes its own terms and scores.

InMemoryStore's terms come from PyStemmer's Snowball English stemmer and PostgreSQL's
English stop words (``casts.memory.recall.lexical``); PostgreSQL's from its own ``english`` text
search. They agree on plain words; PostgreSQL's parser splits some other text its own way
(hyphenated words, e-mail addresses, URLs, version numbers), so there the backends may
rank slightly differently. What is demanded of both:

- the same terms, with the same counts, for text of plain words;
- the same BM25 scores when every item in scope holds a query term (PostgreSQL averages
  the length over the items that match, Python over all of them);
- the same best result for each fixture query below (further down, items that only
  the embedding finds may come in another order).
"""

from __future__ import annotations

import random
from collections import Counter

import psycopg
import pytest

from casts.memory import namespaces
from casts.memory.core.records import Memory
from casts.memory.recall import lexical
from casts.memory.recall import sql as recall_sql
from casts.memory.recall.fusion import Weights
from casts.memory.recall.search import recall
from casts.memory.store.persistence import open_store
from casts.memory.store.transfer import put_many, puts
from tests.conftest import settings_for
from tests.conversation import FILLER

# Words with the inflections the stemmer must merge or keep apart, stop words and numbers.
WORDS = [
    "painting", "painted", "paints", "swimming", "swims", "stories", "story", "hiking",
    "hiked", "falls", "falling", "passed", "buzzing", "tried", "tries", "quickly", "fully",
    "allegedly", "happiness", "agreed", "agreement", "glasses", "buses", "analysis", "bonus",
    "generously", "relational", "conditional", "Ana's", "O'Brien", "don't", "they're", "I'd",
    "The", "WOULD", "could", "only", "a", "7", "2024", "3rd", "Reykjavik", "greyhound",
]  # fmt: skip
SEPARATORS = [" ", "  ", ", ", ". ", "; ", ": ", "! ", "? ", " (", ") ", '"', "\n", "\t"]


def _texts() -> list[str]:
    rng = random.Random(20260101)
    texts = ["When did Ana's kids go to the zoo?", "", "   ", "the of and"]
    for _ in range(2000):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 10))]
        texts.append("".join(word + rng.choice(SEPARATORS) for word in words))
    return texts


async def test_plain_words_make_the_same_terms_on_both_backends(fresh_database, tmp_path):
    async with open_store(settings_for("postgres", fresh_database, tmp_path)):
        pass
    texts = _texts()
    async with await psycopg.AsyncConnection.connect(fresh_database) as conn:
        cursor = await conn.execute(
            "SELECT ARRAY(SELECT lexeme || ':' || cardinality(positions) "
            "FROM unnest(to_tsvector('english', t))) "
            "FROM unnest(%s::text[]) WITH ORDINALITY x(t, i) ORDER BY i",
            (texts,),
        )
        rows = await cursor.fetchall()
    in_postgres = [Counter({t: int(n) for t, n in (x.rsplit(":", 1) for x in r)}) for (r,) in rows]
    differ = [
        (text, Counter(lexical.terms(text)), got)
        for text, got in zip(texts, in_postgres, strict=True)
        if got != Counter(lexical.terms(text))
    ]
    assert differ == []


async def test_bm25_scores_agree_when_every_item_matches(fresh_database, tmp_path, unique):
    # "day" is in every memory, so PostgreSQL's average length is Python's; repeats make
    # the (capped) term frequency count.
    contents = [
        "Painting day: painted two paintings and a painted chair",
        "A day at the lake, swimming and swimming again",
        "Rainy day, stayed in and read",
        "Day off; paints and brushes bought for the painting class",
        "Long day of meetings about the budget, the budget and more budget",
    ]
    query = "painting swims budget day"
    async with open_store(settings_for("postgres", fresh_database, tmp_path)) as store:
        space = namespaces.user_memories(unique("bm25"))
        items = [(f"m{i}", Memory(content=text).to_value()) for i, text in enumerate(contents)]
        await put_many(store, puts(space, items), progress=False)
        found = await recall_sql.postgres_candidates(
            store.inner, space, query, filter=None, pool=10, weights=Weights(1.0)
        )
    scores = {key: score for (_, key), score in found.lexical.items()}
    expected = lexical.bm25_scores(query, contents)
    assert scores == pytest.approx({f"m{i}": score for i, score in enumerate(expected)})


MEMORIES = [
    *FILLER,
    "My sister adopted a greyhound named Comet",
    "She painted a sunrise over the lake last year",
    "Booked flights to Reykjavik for the spring",
    "Melanie ran a charity race for mental health",
    "Caroline went to an LGBTQ support group on Tuesday",
    "The recital is on the ninth of June",
]
QUERIES = {
    "Who is Comet?": 6,
    "when was the painting of the sunrises": 7,
    "Where are the flights going?": 8,
    "What race did Melanie run?": 9,
    "support group": 10,
    "When is the recital?": 11,
}


async def test_both_backends_return_the_same_top_results(database_factory, tmp_path, unique):
    space = namespaces.user_memories(unique("fixtures"))
    items = [(f"m{i}", Memory(content=text).to_value()) for i, text in enumerate(MEMORIES)]
    found: dict[str, dict[str, list[str]]] = {}
    for backend in ("memory", "postgres"):
        uri = database_factory() if backend == "postgres" else None
        async with open_store(settings_for(backend, uri, tmp_path)) as store:
            await put_many(store, puts(space, items), progress=False)
            found[backend] = {
                query: [item.key for item in await recall(store, space, query, limit=3)]
                for query in QUERIES
            }
    for query, best in QUERIES.items():
        assert found["memory"][query][0] == found["postgres"][query][0] == f"m{best}", query
