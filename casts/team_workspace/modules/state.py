"""State of the team-workspace cast, with separate input and output schemas for Studio."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langgraph.channels.ephemeral_value import EphemeralValue
from typing_extensions import TypedDict

WorkspaceAction = Literal["read", "write", "create", "add_member", "remove_member"]
Role = Literal["owner", "member"]


class WorkspaceInput(TypedDict, total=False):
    """One request on the team named by the run's context (``team_id``).

    Attributes:
        action: ``read`` the workspace, ``write`` entries, ``create`` the team (you become
            its owner), ``add_member`` / ``remove_member`` (owners only).
        set_entries: For ``write``: key -> JSON object, e.g. {"status": {"phase": "beta"}}.
        remove_entries: For ``write``: keys of entries to delete.
        member_id: For ``add_member`` / ``remove_member``: the user to add or remove.
        role: For ``add_member``: ``member`` (default) or ``owner``.
    """

    action: Annotated[WorkspaceAction | None, EphemeralValue(WorkspaceAction | None)]
    set_entries: Annotated[dict[str, Any], EphemeralValue(dict[str, Any])]
    remove_entries: Annotated[list[str], EphemeralValue(list[str])]
    member_id: Annotated[str | None, EphemeralValue(str | None)]
    role: Annotated[Role | None, EphemeralValue(Role | None)]


class WorkspaceOutput(TypedDict, total=False):
    """The workspace after the run.

    Attributes:
        entries: key -> {value, updated_by, updated_at}.
        members: user id -> {role, added_by, added_at}.
        changed: What the run changed (entry keys, or ``members.<user id>``).
    """

    entries: dict[str, Any]
    members: dict[str, Any]
    changed: list[str]


class WorkspaceState(WorkspaceInput, WorkspaceOutput):
    """Everything the nodes read and write.

    The thread keeps its state between runs. The request keys are ``EphemeralValue``
    channels: they live for the one run that sent them -- even when that run fails -- so a
    later run on the thread never replays or inherits an old request.
    """
