r"""PostgreSQL's copy of the lexical analyzer: the terms of ``casts.memory.lexical``, in SQL.

Recall must rank an item the same on every backend, so PostgreSQL cannot use its own
``english`` analyzer (Snowball stemmer, another stop list): it makes other terms of the same
text than the Python side. ``TERMS_FUNCTION`` makes the same ones, with their positions, so
BM25 in SQL gets the real term frequency too. It is built here from ``lexical``'s own stop
words and stemming rules (one source of truth), and it runs on every write (a generated
column calls it), so it works on the whole text at once, never word by word (stemming each
word in SQL made writes 15 to 120 times slower):

1. lower-case the text, turn everything but letters and digits into spaces (``lexical``'s
   ``[^\W_]+`` words) and let ``to_tsvector('simple', ...)`` number the words;
2. drop the stop words (``ts_delete``; before stemming, as in Python);
3. stem the tsvector's text form (``'painted':3 'paints':7``) by ``regexp_replace`` passes,
   one per rule of ``lexical.stem``, each matching a whole quoted word of letters of the
   lengths the rule requires, so digits and short words stay as they are; a pass runs only
   if its word ending occurs at all;
4. read the text back as a tsvector, which merges the positions of words that now agree.

A word takes at most one inflection suffix: a pass that strips one leaves the stem marked
(``'speed#'``), so no later suffix pass matches it (``speeding`` -> ``speed``, never ``spe``);
the marks go before the final-e rule, which applies to every word.

Case mapping and letter classes follow PostgreSQL's ``pg_unicode_fast`` collation (Unicode,
full case mapping, as ``str.lower``) where the database has it (UTF-8, PostgreSQL 18), else
the database's own. ASCII and accented or non-Latin letters give exactly Python's terms;
known differences are rare: characters Python counts as digits and PostgreSQL does not
(superscripts, fractions: ``x²`` is one word in Python, ``x`` here), words over 2047 bytes
(PostgreSQL does not index them), and term counts past PostgreSQL's limits (256 repeats of
a word, position 16383).
"""

from __future__ import annotations

from casts.memory import lexical

TERMS_FUNCTION = "memory_casts_terms"
# Bumped whenever the analyzer's output changes, so migrated databases rebuild the column.
ANALYZER_VERSION = 1
# Recorded as the function's comment, which the migration compares.
ANALYZER_COMMENT = f"memory-casts analyzer {ANALYZER_VERSION}"
_LETTERS = "[[:alpha:]]"
# A pass: a string every match contains (looking for it is far cheaper than running the
# regex, and most texts have no word ending in, say, "-edly"), the regex, its replacement.
Pass = tuple[str, str, str]
_MARK = "#"


def _stop_words() -> str:
    """The stop words as an SQL ``text[]`` literal, for ``ts_delete``."""
    assert all(word.isalnum() and word.isascii() for word in lexical.STOP_WORDS)
    return _literal("{" + ",".join(sorted(lexical.STOP_WORDS)) + "}") + "::text[]"


def _plural() -> list[Pass]:
    """``-ies`` -> ``-y`` (words over four letters), ``-sses`` -> ``-ss``, then ``-s``."""
    kept = lexical.PLURAL_S_KEPT_AFTER
    return [
        ("ies'", f"'({_LETTERS}{{2,}})ies'", r"'\1y'"),
        ("sses'", f"'({_LETTERS}*ss)es'", r"'\1'"),
        ("s'", f"'({_LETTERS}{{2,}}(?![{kept}]){_LETTERS})s'", r"'\1'"),
    ]


def _suffix(suffix: str, earlier: tuple[str, ...]) -> list[Pass]:
    """The passes stripping ``suffix`` from a stem of three letters or more with a vowel.

    ``earlier`` are the suffixes tried before it: a word ending in one of them (``-edly``
    for ``-ly``) is never stripped of ``suffix``, even when that one's rule did not apply.
    The stem is left marked (see the module's docstring).
    """
    end = f"{suffix}'"
    vowel = f"'(?={_LETTERS}*[{lexical.VOWELS}]{_LETTERS}*{end})"
    not_after = "".join(
        f"(?<!{other[: -len(suffix)]})" for other in earlier if other.endswith(suffix)
    )
    marked = rf"'\1{_MARK}'"
    passes = []
    if suffix == lexical.I_TO_Y_SUFFIX:  # "tried" -> "try"; "xyyied" -> "xyy" -> "xy"
        passes += [
            (f"i{end}", f"'({_LETTERS}{{2,}}y)i{end}", marked),
            (f"i{end}", f"'({_LETTERS}{{2,}})i{end}", rf"'\1y{_MARK}'"),
        ]
    if suffix in lexical.UNDOUBLE_SUFFIXES:
        doubled = rf"({_LETTERS}{{2,}}(?![{lexical.DOUBLES_KEPT}])({_LETTERS}))\2"
        passes.append((end, vowel + doubled + end, marked))
    passes.append((end, f"{vowel}({_LETTERS}{{3,}}){not_after}{end}", marked))
    return passes


def _stemming() -> list[Pass]:
    """The stemming passes over a tsvector's text, in order."""
    passes = _plural()
    for position, suffix in enumerate(lexical.SUFFIXES):
        passes += _suffix(suffix, lexical.SUFFIXES[:position])
    return [*passes, (_MARK, _MARK, ""), ("e'", f"'({_LETTERS}{{3,}})e'", r"'\1'")]


def _literal(text: str) -> str:
    """``text`` as an SQL string literal (standard_conforming_strings: only quotes double)."""
    return "'" + text.replace("'", "''") + "'"


def function_sql(collation: str | None) -> tuple[str, str]:
    """``CREATE OR REPLACE`` of ``TERMS_FUNCTION(text) RETURNS tsvector``, and its comment.

    PL/pgSQL for its variable: each pass runs only when its string is found (``Pass``),
    which a single SQL expression could not do without evaluating the text once per test.
    Immutable, as a generated column requires: its output depends on nothing but the text
    and the fixed collation.

    Args:
        collation: Collation for case mapping and letter classes (``None``: the
            database's).
    """
    collate = f' COLLATE "{collation}"' if collation else ""
    words = f"regexp_replace(lower(document{collate}), '[^[:alnum:]]+', ' ', 'g')"
    steps = "".join(
        f"\n    IF strpos(t, {_literal(needle)}) > 0 THEN\n        t := regexp_replace(t, "
        f"{_literal(pattern)}, {_literal(replacement)}, 'g');\n    END IF;"
        for needle, pattern, replacement in _stemming()
    )
    create = (
        f"CREATE OR REPLACE FUNCTION {TERMS_FUNCTION}(document text) RETURNS tsvector\n"
        "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $function$\n"
        f"DECLARE\n    t text{collate} := ts_delete(to_tsvector('simple', {words}),\n"
        f"        {_stop_words()})::text;\n"
        f"BEGIN{steps}\n    RETURN t::tsvector;\nEND\n$function$"
    )
    comment = f"COMMENT ON FUNCTION {TERMS_FUNCTION}(text) IS {_literal(ANALYZER_COMMENT)}"
    return create, comment
