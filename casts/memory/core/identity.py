"""Whose memory a run touches, resolved in exactly one place.

Order: the user the server authenticated (``runtime.server_info.user``), else the run's
``context``, else ``config["configurable"]`` (older clients). There is no fallback to a
shared "default" user: a user-scoped operation without a user raises. Tools call this with
their ``ToolRuntime``; the model never supplies an id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.config import get_config

from casts.memory.core.errors import IdentityMismatchError, MissingIdentityError

OWNER_KEY = "owner"
"""The metadata key naming the user a thread (or assistant) belongs to: set by the auth
handler, by the chat casts on threads made without auth, and searched by forget-user."""


@dataclass(frozen=True)
class Identity:
    """The resolved identity of a run.

    Attributes:
        user_id: The user whose memory the run touches, or None when unknown.
        team_id: The team the run acts in, if any.
        session_id: The session (by default the thread) temporary data belongs to.
        authenticated: Whether ``user_id`` comes from the server's authentication.
        teams: The teams the authenticated user's token lists (empty when it lists none),
            or None without authentication. ``casts.memory.kinds.workspace.team_role`` decides
            team membership from it.
    """

    user_id: str | None
    team_id: str | None = None
    session_id: str | None = None
    authenticated: bool = False
    teams: frozenset[str] | None = None

    def require_user(self) -> str:
        """The user id, or a clear error when the run did not say whose memory to use."""
        if not self.user_id:
            raise MissingIdentityError(
                "No user for this run: pass context={'user_id': ...} (or authenticate the "
                "request); memory is never written to a shared default user."
            )
        return self.user_id

    def require_team(self) -> str:
        """The team id, or a clear error when the run names no team."""
        if not self.team_id:
            raise MissingIdentityError("No team for this run: pass context={'team_id': ...}.")
        return self.team_id

    def require_session(self) -> str:
        """The session id, or a clear error when neither context nor thread gives one."""
        if not self.session_id:
            raise MissingIdentityError(
                "No session for this run: pass context={'session_id': ...} or run on a thread."
            )
        return self.session_id


def _field(source: Any, name: str) -> str | None:
    if source is None:
        return None
    raw = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
    if raw is None or raw == "":
        return None
    return str(raw)


def _authenticated_user(runtime: Any) -> tuple[str, frozenset[str]] | None:
    """The authenticated user and their token's teams, or None without authentication."""
    server_info = getattr(runtime, "server_info", None)
    user = getattr(server_info, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    identity = getattr(user, "identity", None)
    if not identity:
        return None
    teams = user.get("teams") if hasattr(user, "get") else None
    return str(identity), frozenset(str(team) for team in teams or ())


def resolve_identity(runtime: Any = None, config: Mapping[str, Any] | None = None) -> Identity:
    """Resolve whose memory this run touches.

    Args:
        runtime: A node's ``Runtime`` or a tool's ``ToolRuntime`` (anything with
            ``context`` / ``server_info`` / ``config`` attributes).
        config: The run's config; taken from ``runtime.config`` or the current run when omitted.

    Raises:
        IdentityMismatchError: The client sent a user id that differs from the
            authenticated user.
    """
    if config is None:
        config = getattr(runtime, "config", None)
    if config is None:
        try:
            config = get_config()
        except RuntimeError:
            config = {}
    configurable = config.get("configurable") or {}
    context = getattr(runtime, "context", None)

    claimed = _field(context, "user_id") or _field(configurable, "user_id")
    authenticated, teams = _authenticated_user(runtime) or (None, None)
    if authenticated is not None and claimed is not None and claimed != authenticated:
        raise IdentityMismatchError(
            f"This request is authenticated as {authenticated!r} but asked to act as "
            f"{claimed!r}; a run may only touch its authenticated user's memory."
        )
    return Identity(
        user_id=authenticated or claimed,
        team_id=_field(context, "team_id") or _field(configurable, "team_id"),
        session_id=(
            _field(context, "session_id")
            or _field(configurable, "session_id")
            or _field(configurable, "thread_id")
        ),
        authenticated=authenticated is not None,
        teams=teams,
    )
