"""State of the LangMem agent: a conversation, the same for input and output."""

from __future__ import annotations

from casts.memory import Conversation


class AgentInput(Conversation):
    """What a run takes: the new message(s) of the conversation."""


class AgentOutput(Conversation):
    """What a run returns: the conversation, ending with the agent's answer."""


LangMemState = AgentInput
