"""What an authenticated user may do, decided from the request alone (no store access).

The HTTP store API is reachable by any client, so the rules follow the namespace layout
(``casts.memory.core.namespaces``), where the first two labels name the owner:

- ``user/<me>/...`` and ``session/<me>/...``: read and write.
- ``team/<t>/...`` for a team ``t`` the user belongs to by ``workspace.team_role`` -- the
  one rule the casts and the memory agent apply too; with auth on, the token's teams:
  read and write, except the ``members`` namespace, which is read-only here -- membership
  changes go through the ``team_workspace`` cast, which enforces the owner rules; a raw
  write could promote anyone. A workspace entry put here must be ``{"value": {...}}``;
  its ``updated_by`` and ``updated_at`` are set from the caller and the clock
  (``stamp_provenance``), never taken from the client.
- ``global/...``: read-only. Global knowledge is curated for every user; letting any one
  user's client overwrite it would let one user change what everybody's agent believes.
- anything else (other users, other teams, roots the project does not use): refused.

Ids are compared by their exact encoded label (``namespaces.encode_id``), never by a decoded
form, so no second spelling of a label reaches someone else's data.

Searching and listing take a prefix. A prefix that covers more than the user may see is
narrowed to the user's own part where that is unambiguous (no prefix or ``("user",)`` ->
``("user", <me>)``; ``("session",)`` -> ``("session", <me>)``); ``("team",)`` is refused
because it cannot be narrowed to several teams at once -- name the team.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from casts.memory.auth.tokens import Principal
from casts.memory.core import namespaces
from casts.memory.core.errors import AccessDeniedError, InvalidNamespaceError, InvalidValueError
from casts.memory.core.records import WorkspaceEntry, iso_now, parse_record
from casts.memory.kinds.workspace import team_role

StoreAction = Literal["put", "get", "delete", "search", "list_namespaces"]
WRITES: frozenset[str] = frozenset({"put", "delete"})


def _label(raw_id: str) -> str:
    return namespaces.encode_id(raw_id)


def _check_owner(principal: Principal, namespace: tuple[str, ...], action: str) -> None:
    """Refuse unless ``namespace`` (at least owner kind and id) belongs to the principal."""
    root = namespace[0]
    write = action in WRITES
    if root == namespaces.GLOBAL:
        if write:
            raise AccessDeniedError(
                "Global namespaces are read-only through the HTTP store API; they hold "
                "knowledge curated for every user."
            )
        return
    if len(namespace) < 2:
        raise AccessDeniedError(f"Name the owner: {root!r} alone covers other users' data.")
    if root in (namespaces.USER, namespaces.SESSION):
        if namespace[1] != _label(principal.user_id):
            raise AccessDeniedError(
                f"{principal.user_id!r} may not {action} another user's namespace."
            )
        return
    if root == namespaces.TEAM:
        team = namespaces.decode_id(namespace[1])
        # Only the label the casts write: another spelling would be a namespace of its own.
        if _label(team) != namespace[1] or team_role(team, None, principal.teams) is None:
            raise AccessDeniedError(f"{principal.user_id!r} is not a member of team {team!r}.")
        if write and len(namespace) > 2 and namespace[2] == namespaces.MEMBERS:
            raise AccessDeniedError(
                "Team membership is read-only through the HTTP store API; use the "
                "team_workspace cast, which checks that the actor is an owner."
            )
        return
    raise AccessDeniedError(f"Namespace root {root!r} is not one the project uses.")


def _as_namespace(namespace: Any) -> tuple[str, ...]:
    """The namespace as a tuple, refused unless it is under one of the project's roots.

    Only validated here: the decisions compare the exact labels, not ``owner_of``'s
    decoded id.
    """
    try:
        namespaces.owner_of(tuple(namespace or ()))
    except InvalidNamespaceError as error:
        raise AccessDeniedError(str(error)) from error
    return tuple(namespace)


def authorize_item(principal: Principal, namespace: Any, action: StoreAction) -> None:
    """Allow ``put`` / ``get`` / ``delete`` of an item, or refuse.

    Raises:
        AccessDeniedError: Saying why.
    """
    if not namespace:
        raise AccessDeniedError("A namespace is required.")
    _check_owner(principal, _as_namespace(namespace), action)


def stamp_provenance(principal: Principal, namespace: Any, value: Any) -> Any:
    """The value to store for a ``put``: who and when are the server's, never the client's.

    A team workspace entry is checked as the casts check it (``WorkspaceEntry``) and gets
    ``updated_by`` / ``updated_at`` from the authenticated user and the current time, so
    nobody writes in another's name. In any other namespace, an ``updated_by`` or
    ``updated_at`` the client sent is replaced the same way.

    Raises:
        InvalidValueError: The entry is not ``{"value": {...}}``, naming the field.
    """
    namespace = tuple(namespace or ())
    stamps = {"updated_by": principal.user_id, "updated_at": iso_now()}
    if namespace[:1] != (namespaces.TEAM,) or namespace[2:] != (namespaces.WORKSPACE,):
        if not isinstance(value, Mapping):
            return value
        return {**value, **{name: stamp for name, stamp in stamps.items() if name in value}}
    if not isinstance(value, Mapping):
        raise InvalidValueError("value", 'a workspace entry must be {"value": {...}}')
    return parse_record(WorkspaceEntry, {**value, **stamps}).to_value()


def narrow_prefix(principal: Principal, prefix: Any, action: StoreAction) -> tuple[str, ...]:
    """The prefix a ``search`` / ``list_namespaces`` may use, narrowed to the user's own data.

    Returns:
        The prefix to pass to the store instead of the client's.

    Raises:
        AccessDeniedError: The prefix reaches data of others and cannot be narrowed.
    """
    own = _label(principal.user_id)
    if not prefix or tuple(prefix) == (namespaces.USER,):
        return (namespaces.USER, own)
    prefix = _as_namespace(prefix)
    if prefix == (namespaces.SESSION,):
        return (namespaces.SESSION, own)
    _check_owner(principal, prefix, action)
    return prefix


def claimed_users(payload: Mapping[str, Any] | None) -> list[str]:
    """Every user id a run or assistant payload claims, in ``context`` and ``configurable``."""
    if not payload:
        return []
    config = payload.get("config") or {}
    sources = [
        payload.get("context") or {},
        (config.get("configurable") or {}) if isinstance(config, Mapping) else {},
    ]
    return [
        str(source["user_id"])
        for source in sources
        if isinstance(source, Mapping) and source.get("user_id") not in (None, "")
    ]


def check_claim(principal: Principal, payload: Mapping[str, Any] | None) -> None:
    """Refuse a run (or assistant) that asks to act as another user than the caller.

    The run itself would fail too (``identity.resolve_identity``), but only after the run
    was queued and a thread touched; refusing here answers the client with a 403 at once.

    Raises:
        AccessDeniedError: Naming both users.
    """
    for claimed in claimed_users(payload):
        if claimed != principal.user_id:
            raise AccessDeniedError(
                f"This request is authenticated as {principal.user_id!r} but asked to act "
                f"as {claimed!r}; a run may only touch its authenticated user's memory."
            )
