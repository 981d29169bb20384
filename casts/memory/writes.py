"""Building validated write batches: what several memory kinds do the same way.

A batch is planned (every op validated) before anything is written, so a bad key anywhere
refuses the whole request and nothing is half written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.store.base import PutOp

from casts.memory.errors import InvalidValueError
from casts.memory.namespaces import Namespace
from casts.memory.values import validate_key


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
