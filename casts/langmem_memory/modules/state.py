"""State of the LangMem agent: a conversation, the same for input and output."""

from __future__ import annotations

from casts.memory_agent.modules.state import AgentInput, AgentOutput

LangMemState = AgentInput

__all__ = ["AgentInput", "AgentOutput", "LangMemState"]
