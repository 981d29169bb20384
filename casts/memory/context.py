"""The run context every cast declares as its ``context_schema``.

LangGraph 1.x passes per-run data through ``context`` (``invoke(..., context=...)``); the
server maps an older client's ``configurable`` into it. Studio shows these fields as a form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MemoryContext:
    """Whose memory a run touches.

    Attributes:
        user_id: The user the run acts for. When the server authenticates callers, the
            authenticated user wins and a different value here is refused.
        team_id: The team whose shared workspace the run may read and write.
        session_id: Groups a user's temporary scratch data; defaults to the thread id.
    """

    user_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None
