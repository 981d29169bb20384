r"""What a storable value is, checked before anything is written.

The backends disagree on what they accept: InMemoryStore keeps any Python object,
PostgresStore raises ``TypeError`` on non-JSON values and JSONB rejects ``\\u0000``. Checking
here, before the write, gives every backend the same rules and a clear error that names the
field, and means a rejected batch leaves nothing half written.

Write batches are planned here too (``check_entries``, ``deletion_ops``): every op is
validated before anything is written, so a bad key anywhere refuses the whole request and
nothing is half written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.store.base import PutOp

from casts.memory import settings
from casts.memory.core.errors import InvalidValueError
from casts.memory.core.namespaces import Namespace

MAX_KEY_LENGTH = 256
MAX_DEPTH = 32
MAX_TTL_MINUTES = 100 * 365 * 24 * 60
"""A century. PostgresStore keeps a TTL in an ``INT`` column of minutes and adds it to
``now()``: a larger one fails inside SQL instead of being refused up front."""


def max_value_bytes() -> int:
    """The largest JSON encoding of one value (``MEMORY_MAX_VALUE_BYTES``, default 256 KiB)."""
    return settings.current().max_value_bytes


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


def validate_filter(conditions: Any, *, field: str = "filter") -> dict[str, Any] | None:
    """Check a search filter: a JSON object (or None) without NUL characters anywhere.

    PostgresStore puts filter keys and values into SQL, where a NUL fails the statement;
    refusing it here gives the caller the field instead of a server error.

    Raises:
        InvalidValueError: Naming the offending field, e.g. ``filter.tag``.
    """
    if conditions is None:
        return None
    if not isinstance(conditions, dict):
        raise InvalidValueError(field, f"must be a dict, got {type(conditions).__name__}")
    _check(conditions, field, 0)
    return conditions


def validate_ttl(ttl: Any, *, field: str = "ttl") -> float | None:
    """Check a TTL in minutes: None (no expiry) or a finite number above 0, up to a century.

    Raises:
        InvalidValueError: Naming the field, for a non-number, NaN, infinity, zero, a
            negative number or one past ``MAX_TTL_MINUTES``.
    """
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise InvalidValueError(field, f"must be a number of minutes, got {type(ttl).__name__}")
    if not math.isfinite(ttl) or ttl <= 0 or ttl > MAX_TTL_MINUTES:
        raise InvalidValueError(
            field, f"is {ttl} minutes; it must be above 0 and at most {MAX_TTL_MINUTES}"
        )
    return ttl


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


def check_entries(entries: Any, *, field: str = "entries") -> Mapping[str, Any]:
    """An ``entries`` argument: an object of key -> value (None counts as empty).

    Raises:
        InvalidValueError: Naming ``field`` when it is not an object.
    """
    if entries is None:
        return {}
    if not isinstance(entries, Mapping):
        raise InvalidValueError(field, "must be an object of key -> JSON object")
    return entries


def deletion_ops(namespace: Namespace, keys: Any, *, field: str = "remove") -> list[PutOp]:
    """Deletes of ``keys`` in ``namespace``, every key validated first.

    Raises:
        InvalidValueError: Naming ``field`` (not a list) or ``field[i]`` (a bad key).
    """
    if keys is None:
        return []
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
        raise InvalidValueError(field, "must be a list of keys")
    return [
        PutOp(namespace, validate_key(key, field=f"{field}[{position}]"), None)
        for position, key in enumerate(keys)
    ]
