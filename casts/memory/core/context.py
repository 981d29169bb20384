"""The run context the casts declare as their ``context_schema``.

LangGraph 1.x passes per-run data through ``context`` (``invoke(..., context=...)``); the
server maps an older client's ``configurable`` into it. Studio builds its context form from
the JSON schema the server serves for ``context_schema``, so the schema says which fields a
cast needs.

The served schemas are ``TypedDict``s on purpose. The server does not check a run's context
against ``required``: it drops unknown keys and hands a dict to the graph, which builds a
dataclass or pydantic schema from it but passes a ``TypedDict``'s dict through. With
authentication the user comes from the token, so a run that leaves ``user_id`` out must still
work; a dataclass with a required field would instead fail such a run before any node. A
missing user without authentication is refused by ``resolve_identity``, naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired

from typing_extensions import TypedDict


class UserContext(TypedDict):
    """The context of a cast that acts for one user (every cast but ``team_workspace``).

    Attributes:
        user_id: The user the run acts for. With authentication the token's user is used and
            may be left out here; a different value is refused.
        team_id: The team whose shared workspace the run may read (memory agent).
        session_id: Groups a user's temporary scratch data; defaults to the thread id.
    """

    user_id: str
    team_id: NotRequired[str]
    session_id: NotRequired[str]


class TeamContext(TypedDict):
    """The context of a cast that acts for a user inside a team (``team_workspace``).

    Attributes:
        user_id: The acting user. With authentication the token's user is used and may be
            left out here; a different value is refused.
        team_id: The team whose workspace the run reads and writes.
        session_id: Groups a user's temporary scratch data; defaults to the thread id.
    """

    user_id: str
    team_id: str
    session_id: NotRequired[str]


@dataclass
class MemoryContext:
    """Whose memory a run touches, for scripts and tests that invoke graphs directly.

    Every field is optional so a script can pass only what it has; ``resolve_identity``
    reads this, a ``UserContext`` / ``TeamContext`` dict, or ``configurable`` alike.

    Attributes:
        user_id: The user the run acts for. When the server authenticates callers, the
            authenticated user wins and a different value here is refused.
        team_id: The team whose shared workspace the run may read and write.
        session_id: Groups a user's temporary scratch data; defaults to the thread id.
    """

    user_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None
