"""Keys derived from text: the same statement always lands on the same item.

Memories and knowledge facts both avoid duplicates (even from two threads writing at once)
by keying an item on its normalized text, so "is this the same statement?" is decided here,
once, for every memory kind.

Normalizing only forgives what never changes a statement's meaning: letter case, spacing
and the punctuation that ends a sentence. Every other symbol is kept, because it can carry
the meaning: "-5 degrees" is not "5 degrees" and "C++" is not "C".
"""

from __future__ import annotations

import hashlib

TRAILING_PUNCTUATION = ".!?;"
"""Sentence-ending marks dropped from the end of a statement (and only from its end)."""
KEY_DIGEST_CHARS = 32


def normalize_text(text: str) -> str:
    """The form two statements of one thing share.

    Case folded, runs of whitespace collapsed to one space, trailing ``.!?;`` dropped;
    everything else kept as written.
    """
    return " ".join(text.casefold().split()).rstrip(TRAILING_PUNCTUATION + " ")


def text_key(prefix: str, text: str) -> str:
    """A stable item key for ``text``: equal for texts that normalize equally."""
    digest = hashlib.sha256(normalize_text(text).encode()).hexdigest()
    return f"{prefix}{digest[:KEY_DIGEST_CHARS]}"
