"""State of the memory agent, with separate input and output schemas for Studio."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from casts.memory import Conversation


class AgentInput(Conversation):
    """What a run takes: the new message(s) of the conversation."""


class AgentOutput(Conversation):
    """What a run returns: the conversation, ending with the agent's answer."""


class TeamContext(TypedDict):
    """The team's shared workspace, entry key -> entry value."""

    team_id: str
    workspace: dict[str, Any]


class Known(TypedDict, total=False):
    """What the agent knows about the user this turn, loaded once at the start of the turn.

    Attributes:
        profile: Profile fields (name, timezone, ...).
        preferences: Preferences (theme, language, ...).
        memories: The memories most relevant to the latest message, best first, each with
            its key so the agent can forget it.
        team: The team's workspace when the run names a team.
    """

    profile: dict[str, Any]
    preferences: dict[str, Any]
    memories: list[dict[str, Any]]
    team: TeamContext | None


class MemoryAgentState(AgentInput, total=False):
    """Everything the nodes read and write.

    ``known`` is written by ``load_memory_context`` at the start of every turn and read by
    the agent on each pass of the tool loop, so the loop never re-reads the store.
    """

    known: Known
