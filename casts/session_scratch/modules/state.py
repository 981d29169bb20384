"""State of the session-scratch cast, with separate input and output schemas for Studio."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langgraph.channels.ephemeral_value import EphemeralValue
from typing_extensions import TypedDict

ScratchAction = Literal["read", "write", "end"]


class ScratchInput(TypedDict, total=False):
    """One request on the run's session (``session_id`` from the context, else the thread).

    Attributes:
        action: ``read`` the session's scratch data, ``write`` entries, or ``end`` the
            session (deletes all of its data).
        set_entries: For ``write``: key -> JSON object, e.g. {"draft": {"text": "..."}}.
        remove_entries: For ``write``: keys of entries to delete.
        ttl_minutes: For ``write``: how long the entries live (default one day).
    """

    action: Annotated[ScratchAction | None, EphemeralValue(ScratchAction | None)]
    set_entries: Annotated[dict[str, Any], EphemeralValue(dict[str, Any])]
    remove_entries: Annotated[list[str], EphemeralValue(list[str])]
    ttl_minutes: Annotated[float | None, EphemeralValue(float | None)]


class ScratchOutput(TypedDict, total=False):
    """The session's scratch data after the run.

    Attributes:
        entries: key -> {data, created_at, expires_at}; empty after ``end``.
        changed: Keys the run wrote or removed.
        deleted: How many items ``end`` deleted.
    """

    entries: dict[str, Any]
    changed: list[str]
    deleted: int


class ScratchState(ScratchInput, ScratchOutput):
    """Everything the nodes read and write.

    The thread keeps its state between runs. The request keys are ``EphemeralValue``
    channels: they live for the one run that sent them -- even when that run fails -- so a
    later run on the thread never replays or inherits an old request. Every run sets every
    output key.
    """
