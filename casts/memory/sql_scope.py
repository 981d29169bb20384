"""A namespace as a condition over a table's ``prefix`` column, in SQL.

LangGraph keys items by ``prefix``: the namespace's labels joined with ".". Recall and the
store queries ask for "this namespace and everything under it".
"""

from __future__ import annotations


def prefix_of(namespace: tuple[str, ...]) -> str:
    """The ``prefix`` column value of ``namespace``."""
    return ".".join(namespace)


def namespace_of(prefix: str) -> tuple[str, ...]:
    """The namespace a ``prefix`` column value stands for."""
    return tuple(prefix.split("."))


def within_namespace(alias: str, namespace: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """``alias.prefix`` in ``namespace`` or under it, as SQL with parameters ``ns``, ``ns_like``.

    The namespace itself is matched as ``prefix COLLATE "C"`` (what the lexical index
    serves), its sub-namespaces by ``LIKE`` (LangGraph's
    ``text_pattern_ops`` prefix index).
    """
    path = prefix_of(namespace)
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    sql = (
        f"(({alias}.prefix COLLATE \"C\") = %(ns)s OR {alias}.prefix LIKE %(ns_like)s ESCAPE '\\')"
    )
    return sql, {"ns": path, "ns_like": f"{escaped}.%"}
