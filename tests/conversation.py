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


class ServerUser(dict):
    """The authenticated user as the server hands it to a run (langgraph_sdk's BaseUser)."""

    @property
    def identity(self) -> str:
        return self["identity"]

    @property
    def is_authenticated(self) -> bool:
        return self["is_authenticated"]


def authenticated(thread: str, user: str, *teams: str) -> dict:
    """The run config of a run the server authenticated as ``user`` with ``teams``."""
    principal = ServerUser(identity=user, is_authenticated=True, teams=sorted(teams))
    return {"configurable": {"thread_id": thread, "langgraph_auth_user": principal}}


FILLER = [
    "We talked about the weather and the long drive home",
    "Dinner was pasta with friends from work",
    "The kids had a busy week at school",
    "Saw a movie about space travel on Friday",
    "Started reading a new novel before bed",
    "The garden needs watering every morning now",
]
"""Everyday memories sharing no word with the recall tests' questions: what a real user's
namespace is mostly made of."""
