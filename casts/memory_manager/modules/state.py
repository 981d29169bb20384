"""State of the memory manager, with separate input and output schemas for Studio."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict


class ManagerInput(TypedDict):
    """What a run takes.

    Attributes:
        action: ``extract`` (form memories from the messages) or ``forget_me`` (delete
            everything of the run's user).
        thread_id: For ``extract``: the conversation thread the messages come from.
        messages: For ``extract``: the conversation, each ``{"id", "type": "human"|"ai",
            "content"}`` (``casts.memory.agent.formation.transcript``); what the manager has
            already read of the thread is skipped.
    """

    action: Literal["extract", "forget_me"]
    thread_id: NotRequired[str]
    messages: NotRequired[list[Any]]


class ManagerOutput(TypedDict, total=False):
    """What a run returns.

    Attributes:
        decisions: What was done, one entry per candidate: ``action`` (add, confirm,
            update, supersede), ``kind``, ``key`` (where it is stored now), ``content``,
            and ``replaced`` (the key the action named) where there is one.
        rejected: Why the model's answer was refused (``field``, ``reason``); nothing was
            written then, and the messages stay unread for the next run.
        read_up_to: The id of the last message read (the thread's cursor).
        forgotten: For ``forget_me``: the receipt, items deleted per namespace.
    """

    decisions: list[dict[str, Any]]
    rejected: list[dict[str, str]]
    read_up_to: str | None
    forgotten: dict[str, Any]


class ManagerState(ManagerInput, ManagerOutput, total=False):
    """Everything the nodes read and write between the steps of one extraction."""

    new_messages: list[dict[str, str]]
    candidates: list[dict[str, Any]]
    related: list[list[dict[str, Any]]]
    chosen: list[dict[str, Any]]
    model_name: str
