"""Helpers for driving a graph the way a client does: threads, user turns, tool replies."""

from __future__ import annotations

from langchain_core.messages import ToolMessage


def thread_config(thread: str) -> dict:
    """The run config of one thread."""
    return {"configurable": {"thread_id": thread}}


def said(text: str) -> dict:
    """Graph input: one user message."""
    return {"messages": [{"role": "user", "content": text}]}


def tool_replies(result: dict) -> list[str]:
    """What the tools answered during a run, in order."""
    return [m.content for m in result["messages"] if isinstance(m, ToolMessage)]
