"""PostgreSQL's analyzer makes exactly Python's terms, and BM25 scores the same on both sides."""

from __future__ import annotations

import random
from collections import Counter

import psycopg
import pytest

from casts.memory import lexical, namespaces, recall_sql
from casts.memory.analyzer_sql import TERMS_FUNCTION
from casts.memory.fusion import Weights
from casts.memory.ingest import put_many, puts
from casts.memory.persistence import open_store
from casts.memory.records import Memory
from tests.conftest import settings_for

# Stems and endings that exercise every rule of ``lexical.stem``: plurals, -ing/-ed/-edly/-ly
# after doubled letters (kept or not), -ied, stems without vowels, short words, final e.
STEMS = ["swim", "hop", "tri", "play", "fall", "pass", "buzz", "fix", "bus", "basi", "speed"]
STEMS += ["seem", "xyy", "nth", "ab", "abc", "happ", "agree", "bull", "tie", "li", "café"]
ENDINGS = ["", "s", "es", "ies", "sses", "e", "ing", "ings", "ed", "eds", "edly", "ly"]
ENDINGS += ["ied", "ying", "lies", "ness"]
# Characters around and inside words: punctuation, digits, underscores, apostrophes, hyphens,
# uppercase, accented and non-Latin letters. (Not superscripts or fractions: Python counts
# them as digits, PostgreSQL does not; see ``casts.memory.analyzer_sql``.)
NOISE = list(" .,;:!?'\"-_/()&|*<>@#%$\\0123456789ABZÉÅÑßéñøœİΣ日本語\t\n")
NOISE += [
    "\N{RIGHT SINGLE QUOTATION MARK}",
    "\N{LATIN SMALL LETTER DOTLESS I}",
    "\N{GREEK SMALL LETTER SIGMA}",
]
WRITTEN = [
    "When did Ana's kids go to the zoo?",
    "I'd have SWIMMING lessons; she'd've painted, he paints & they're painting.",
    "Stories, classes, buses, bonuses, analysis, glasses, dies, ties, lies",
    "hoping hopped hopes hopefully tried tries trying fully quickly allegedly",
    "O'Brien's café opens at 7 & closes late: e-mail me@example.com, v1.2.3, 3.14",
    "snake_case kebab-case CamelCase 2nd 1st 100km x86_64 https://example.com/a?b=c",
    "The the THE a an, would could should -- only stop words here",
    "ÉCOLE Straße İstanbul ΟΔΟΣ naïve façades résumés 日本語のテキスト",
    "",
    "   ",
]


def _texts() -> list[str]:
    rng = random.Random(20260101)
    texts = list(WRITTEN)
    for _ in range(3000):
        words = [rng.choice(STEMS) + rng.choice(ENDINGS) for _ in range(rng.randint(1, 8))]
        words = [word.upper() if rng.random() < 0.1 else word for word in words]
        texts.append(
            "".join(word + "".join(rng.choices(NOISE, k=rng.randint(1, 2))) for word in words)
        )
    return texts


async def _sql_terms(conn: psycopg.AsyncConnection, texts: list[str]) -> list[Counter[str]]:
    cursor = await conn.execute(
        f"SELECT ARRAY(SELECT lexeme || ':' || cardinality(positions) "
        f"FROM unnest({TERMS_FUNCTION}(t))) FROM unnest(%s::text[]) WITH ORDINALITY x(t, i) "
        "ORDER BY i",
        (texts,),
    )
    return [
        Counter({term: int(count) for term, count in (x.rsplit(":", 1) for x in row[0])})
        for row in await cursor.fetchall()
    ]


async def test_postgres_terms_are_python_terms(fresh_database, tmp_path):
    async with open_store(settings_for("postgres", fresh_database, tmp_path)):
        pass
    texts = _texts()
    async with await psycopg.AsyncConnection.connect(fresh_database) as conn:
        found = await _sql_terms(conn, texts)
    differ = [
        (text, Counter(lexical.terms(text)), got)
        for text, got in zip(texts, found, strict=True)
        if got != Counter(lexical.terms(text))
    ]
    assert differ == []


async def test_postgres_bm25_scores_are_python_scores(fresh_database, tmp_path, unique):
    # "day" is in every memory, so the items read are all of them and the average length
    # PostgreSQL normalises by is Python's; repeats make the term frequency count.
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


async def _column_number(conn: psycopg.AsyncConnection) -> int:
    cursor = await conn.execute(
        "SELECT attnum FROM pg_attribute WHERE attrelid = 'store'::regclass AND attname = %s",
        (recall_sql.LEXICAL_COLUMN,),
    )
    return (await cursor.fetchone())[0]


async def test_postgres_migration_replaces_an_older_analyzer(fresh_database, tmp_path):
    # A database migrated before the analyzer existed: PostgreSQL's english column.
    settings = settings_for("postgres", fresh_database, tmp_path)
    async with open_store(settings) as store:
        await store.aput(("user", "u1", "memories"), "k", Memory(content="Would paint").to_value())
    async with await psycopg.AsyncConnection.connect(fresh_database, autocommit=True) as conn:
        column = recall_sql.LEXICAL_COLUMN
        await conn.execute(
            f"ALTER TABLE store DROP COLUMN {column}, ADD COLUMN {column} tsvector GENERATED "
            "ALWAYS AS (to_tsvector('english', coalesce(value->>'content', ''))) STORED"
        )
        await recall_sql.ensure_lexical_index(conn)
        cursor = await conn.execute(f"SELECT {column}::text FROM store")
        assert await cursor.fetchall() == [("'paint':2",)]
        assert await _column_number(conn) > 0
        cursor = await conn.execute("SELECT to_regclass(%s)::text", (recall_sql.LEXICAL_INDEX,))
        assert (await cursor.fetchone())[0] == recall_sql.LEXICAL_INDEX

        # Migrated: nothing to do. An earlier version of the analyzer: rebuilt once.
        before = await _column_number(conn)
        await recall_sql.ensure_lexical_index(conn)
        assert await _column_number(conn) == before
        await conn.execute(f"COMMENT ON FUNCTION {TERMS_FUNCTION}(text) IS 'earlier'")
        await recall_sql.ensure_lexical_index(conn)
        assert await _column_number(conn) > before
        await recall_sql.ensure_lexical_index(conn)
        assert await _column_number(conn) == before + 1
