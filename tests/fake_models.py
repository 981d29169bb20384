"""Scripted chat models: the only faked part of the tests (no API key, no network).

``scripted(...)`` returns langchain_core's ``GenericFakeChatModel`` answering with the given
messages in order; ``tool_call(...)`` builds an AIMessage that calls a tool.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage


class ScriptedChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that accepts ``bind_tools`` (the script decides the calls)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self


def tool_call(tool: str, /, **args: Any) -> AIMessage:
    """An assistant message calling ``tool`` with ``args`` (which may include ``name``)."""
    return AIMessage(
        content="", tool_calls=[{"name": tool, "args": args, "id": f"call_{uuid.uuid4().hex[:8]}"}]
    )


def scripted(*messages: AIMessage | str) -> ScriptedChatModel:
    """A model that answers with ``messages`` in order, one per call."""
    return ScriptedChatModel(messages=iter(messages))
