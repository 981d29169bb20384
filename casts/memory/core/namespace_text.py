"""How namespaces are written as text: on the `memory-casts` command line and in receipts.

Two forms, so the common case is easy and every stored namespace stays reachable:

- ``user/ada@example.com/memories``: labels separated by ``/``, ids spelled as the outside
  world spells them. Each label is encoded by the tool like ``namespaces.encode_id`` (``.``
  -> ``%2E``), so the namespace is the one the casts write. The first label must be one of
  the project's roots (``user``, ``team``, ``global``, ``session``): a dotted namespace such
  as ``user.ada.memories`` is refused with a hint instead of silently naming nothing.
- ``["user", "ada@example%2Ecom", "memories"]``: a JSON array of the labels exactly as
  stored (already encoded), for labels containing ``/`` or namespaces outside the roots.

Output uses the first form whenever it reads back to the same labels, else the second.
"""

from __future__ import annotations

import json

from casts.memory.core.errors import InvalidNamespaceError
from casts.memory.core.namespaces import ROOTS, Namespace, decode_id, encode_id, validate_namespace

EXAMPLE = "user/ada@example.com/memories"


def parse_namespace(text: str, *, prefix: bool = False) -> Namespace:
    """The stored labels a command-line namespace names.

    Args:
        text: ``a/b/c`` (ids decoded) or a JSON array of stored labels.
        prefix: Whether a partial (or empty) namespace is allowed, for listing and export.

    Raises:
        InvalidNamespaceError: Unknown syntax, an empty label, or a label the store refuses.
    """
    text = text.strip()
    if text.startswith("["):
        return _parse_json(text, prefix=prefix)
    if not text:
        if prefix:
            return ()
        raise InvalidNamespaceError(f"namespace must not be empty (e.g. {EXAMPLE})")
    labels = text.split("/")
    for position, label in enumerate(labels):
        if not label.strip():
            raise InvalidNamespaceError(
                f"namespace {text!r}: label {position} is empty; separate labels with a "
                f"single '/', e.g. {EXAMPLE}"
            )
    if labels[0] not in ROOTS:
        hint = (
            " Labels are separated by '/', not '.'."
            if "." in labels[0] and len(labels) == 1
            else ""
        )
        raise InvalidNamespaceError(
            f"namespace {text!r} must start with one of {', '.join(ROOTS)} (e.g. {EXAMPLE})."
            f"{hint} For other namespaces give a JSON array of stored labels."
        )
    encoded = tuple(
        encode_id(label, what=f"namespace label {position}")
        for position, label in enumerate(labels)
    )
    return validate_namespace(encoded, prefix=prefix)


def _parse_json(text: str, *, prefix: bool) -> Namespace:
    try:
        labels = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidNamespaceError(
            f"namespace {text!r} is not a valid JSON array: {error}"
        ) from None
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise InvalidNamespaceError(f"namespace {text!r} must be a JSON array of strings")
    return validate_namespace(tuple(labels), prefix=prefix)


def format_namespace(namespace: Namespace) -> str:
    """A namespace as the command line reads it back (``a/b/c``, else a JSON array)."""
    decoded = [decode_id(label) for label in namespace]
    readable = (
        namespace
        and namespace[0] in ROOTS
        and all("/" not in label and label.strip() for label in decoded)
        and tuple(encode_id(label) for label in decoded) == tuple(namespace)
    )
    if readable:
        return "/".join(decoded)
    return json.dumps(list(namespace), ensure_ascii=False)
