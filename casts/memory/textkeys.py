"""Keys derived from text: the same statement always lands on the same item.

Memories and knowledge facts both avoid duplicates (even from two threads writing at once)
by keying an item on its normalized text, so "is this the same statement?" is decided here,
once, for every memory kind.
"""

from __future__ import annotations

import hashlib
import re

_WORD = re.compile(r"\w+", re.UNICODE)
KEY_DIGEST_CHARS = 32


def normalize_text(text: str) -> str:
    """The form two statements of one thing share: lower case, words only, single spaces."""
    return " ".join(_WORD.findall(text.casefold()))


def text_key(prefix: str, text: str) -> str:
    """A stable item key for ``text``: equal for texts that normalize equally."""
    digest = hashlib.sha256(normalize_text(text).encode()).hexdigest()
    return f"{prefix}{digest[:KEY_DIGEST_CHARS]}"
