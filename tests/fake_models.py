"""Scripted chat models: the only faked part of the tests (no API key, no network).

``scripted(...)`` returns langchain_core's ``GenericFakeChatModel`` answering with the given
messages in order; ``recording(...)`` does the same and keeps every prompt it received;
``tool_call(...)`` builds an AIMessage that calls a tool.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatResult
from pydantic import Field


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


class RecordingModel(ScriptedChatModel):
    """A scripted model that keeps the messages of every call it received, and has a name."""

    model_name: str = "scripted-model"
    received: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def recording(*messages: AIMessage | str) -> RecordingModel:
    """A recording model that answers with ``messages`` in order, one per call."""
    return RecordingModel(messages=iter(messages))


def system_prompt(call: list[BaseMessage]) -> str:
    """The system prompt of one recorded call."""
    assert isinstance(call[0], SystemMessage)
    return call[0].content
