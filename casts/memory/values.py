r"""What a storable value is, checked before anything is written.

The backends disagree on what they accept: InMemoryStore keeps any Python object,
PostgresStore raises ``TypeError`` on non-JSON values and JSONB rejects ``\\u0000``. Checking
here, before the write, gives every backend the same rules and a clear error that names the
field, and means a rejected batch leaves nothing half written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from casts.memory.errors import InvalidValueError

MAX_KEY_LENGTH = 256
MAX_DEPTH = 32


def max_value_bytes() -> int:
    """The largest JSON encoding of one value (``MEMORY_MAX_VALUE_BYTES``, default 256 KiB)."""
    return int(os.environ.get("MEMORY_MAX_VALUE_BYTES", str(256 * 1024)))


def validate_key(key: Any, *, field: str = "key") -> str:
    """Check an item key: a non-empty string without NUL, of bounded length."""
    if not isinstance(key, str):
        raise InvalidValueError(field, f"must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidValueError(field, "must not be empty")
    if "\x00" in key:
        raise InvalidValueError(field, "must not contain NUL characters")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidValueError(field, f"is {len(key)} characters long, at most {MAX_KEY_LENGTH}")
    return key


def validate_value(value: Any, *, field: str = "value") -> dict[str, Any]:
    """Check that a value is a JSON object every backend stores identically.

    Rules: a dict at the top; only dicts with string keys, lists, strings, finite numbers,
    booleans and null inside; no NUL characters; at most ``max_value_bytes()`` once encoded.

    Returns:
        The value, unchanged.

    Raises:
        InvalidValueError: Naming the first offending field, e.g. ``value.scores[3]``.
    """
    if not isinstance(value, Mapping) or not isinstance(value, dict):
        raise InvalidValueError(field, f"must be a JSON object (dict), got {type(value).__name__}")
    _check(value, field, 0)
    size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    limit = max_value_bytes()
    if size > limit:
        raise InvalidValueError(field, f"is {size} bytes as JSON, at most {limit}")
    return value


def _check(node: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidValueError(path, f"nests deeper than {MAX_DEPTH} levels")
    if node is None or isinstance(node, bool):
        return
    if isinstance(node, str):
        if "\x00" in node:
            raise InvalidValueError(path, "contains a NUL character, which PostgreSQL rejects")
        return
    if isinstance(node, int):
        return
    if isinstance(node, float):
        if not math.isfinite(node):
            raise InvalidValueError(path, f"is {node}, which JSON cannot represent")
        return
    if isinstance(node, dict):
        for key, child in node.items():
            if not isinstance(key, str):
                raise InvalidValueError(path, f"has a non-string key {key!r}")
            if "\x00" in key:
                raise InvalidValueError(path, "has a key containing a NUL character")
            _check(child, f"{path}.{key}", depth + 1)
        return
    if isinstance(node, list):
        for index, child in enumerate(node):
            _check(child, f"{path}[{index}]", depth + 1)
        return
    raise InvalidValueError(
        path, f"is a {type(node).__name__}, which is not JSON (convert it to str, number or dict)"
    )
