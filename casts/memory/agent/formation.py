"""Background memory formation: after a chat turn, schedule the memory manager, never wait.

A chat cast ends its turn with ``ScheduleFormation``. Inside the Agent Server it hands a
request to the process's ``casts.memory.agent.background`` and returns: once the conversation
has been quiet for a moment (the turn is over), the request asks the server (in process,
``langgraph_sdk.get_client()`` with no URL) for a run of the ``memory_manager`` graph on a
thread of the manager's own for this conversation, delayed by
``MEMORY_FORMATION_DELAY_SECONDS`` and created with ``multitask_strategy="interrupt"``: each
new request cancels the run still waiting (it is marked ``interrupted`` and never starts),
so a burst of turns coalesces into one extraction that reads every message the manager has
not read yet. ``background`` sends one conversation's requests in order and drops those a
newer turn replaced before they went. (``"rollback"`` would delete the cancelled runs
instead, but needs the checkpointer's ``adelete_for_runs``, which the project's PostgreSQL
checkpointer lacks: the server answers 500.)

The same step records the user as the ``owner`` of a chat thread that has none (threads
made without auth), so that forgetting the user finds the thread (``forgetting``).

Outside a server (a script, a test) there is nothing to schedule on: the node does nothing,
and the script invokes the manager graph directly with the same input
(``formation_request``).

Settings (read by ``formation_settings``): ``MEMORY_FORMATION`` (``on``/``off``, default
on) and ``MEMORY_FORMATION_DELAY_SECONDS`` (whole seconds, default 30).
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from casts.base_node import AsyncBaseNode
from casts.memory.agent.background import background
from casts.memory.core.identity import OWNER_KEY, resolve_identity
from casts.memory.settings import Settings, current

MANAGER_GRAPH = "memory_manager"
DEFAULT_DELAY_SECONDS = 30
_THREADS = uuid.UUID("5f0c1a52-7f7e-4b8e-9a57-1d7cf0e6a3b1")
"""uuid5 namespace of the manager's threads."""


@dataclass(frozen=True)
class FormationSettings:
    """Whether chat turns schedule the memory manager, and after how long."""

    enabled: bool = True
    delay_seconds: int = DEFAULT_DELAY_SECONDS


def formation_settings(env: Mapping[str, str] | None = None) -> FormationSettings:
    """The formation settings of the process (``settings.current``), or read from ``env``.

    Raises:
        ConfigurationError: A setting is malformed, naming it.
    """
    chosen = current() if env is None else Settings.from_env(env)
    return FormationSettings(chosen.formation, chosen.formation_delay_seconds)


def manager_thread_id(user_id: str, thread_id: str) -> str:
    """The manager's thread for one user's conversation: the same id for every turn."""
    return str(uuid.uuid5(_THREADS, f"{user_id}\x00{thread_id}"))


def transcript(messages: Sequence[AnyMessage]) -> list[dict[str, Any]]:
    """The user's and the assistant's texts with their ids: what the manager reads.

    Tool calls and tool results are left out; the manager extracts from what was said.
    """
    said = []
    for message in messages:
        if isinstance(message, (HumanMessage, AIMessage)) and message.text.strip():
            said.append({"id": message.id, "type": message.type, "content": message.text})
    return said


def formation_request(thread_id: str, messages: Sequence[AnyMessage]) -> dict[str, Any]:
    """The manager's input for a conversation (also for invoking it directly)."""
    return {"action": "extract", "thread_id": thread_id, "messages": transcript(messages)}


async def schedule_formation(
    client: Any,
    user_id: str,
    thread_id: str,
    messages: Sequence[AnyMessage],
    settings: FormationSettings,
) -> dict[str, Any]:
    """Ask the server for one delayed manager run for this conversation.

    ``interrupt`` cancels the run still waiting on the manager's thread, so only the latest
    request of a burst runs. The thread is created on first use and carries the user as its
    ``owner`` (the user can see it under auth; forgetting the user deletes it).

    Args:
        client: A ``langgraph_sdk`` client (in process inside the server).
        user_id: Whose memories the manager forms.
        thread_id: The conversation thread the messages come from.
        messages: The conversation; the manager skips what it has already read.
        settings: The delay.

    Returns:
        The created run.
    """
    return await client.runs.create(
        manager_thread_id(user_id, thread_id),
        MANAGER_GRAPH,
        input=formation_request(thread_id, messages),
        context={"user_id": user_id},
        metadata={OWNER_KEY: user_id, "formation_of": thread_id},
        after_seconds=settings.delay_seconds,
        multitask_strategy="interrupt",
        if_not_exists="create",
    )


_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def server_client() -> Any:
    """The in-process client of the Agent Server this code runs in, one per event loop.

    Made once, not per turn; per loop because the server can run graphs on several loops
    (``BG_JOB_ISOLATED_LOOPS``) and an HTTP client belongs to the loop it was made on.
    """
    loop = asyncio.get_running_loop()
    if loop not in _CLIENTS:
        from langgraph_sdk import get_client

        _CLIENTS[loop] = get_client()
    return _CLIENTS[loop]


async def record_owner(client: Any, thread_id: str, user_id: str) -> None:
    """Name ``user_id`` as the thread's ``owner`` in its metadata (the rest is kept)."""
    await client.threads.update(thread_id, metadata={OWNER_KEY: user_id})


class ScheduleFormation(AsyncBaseNode):
    """End a chat turn: leave the memory manager's run to be scheduled after it.

    Inside the Agent Server only, and without waiting: the request goes to
    ``casts.memory.agent.background``, which sends it once the turn is over. A failure to
    schedule is logged there: the answer is already given, and the next turn's request
    covers these messages too (the manager reads everything past its cursor). A thread
    without an ``owner`` (made without auth) gets the user as owner the same way, formation
    on or off.
    """

    async def execute(
        self, state: Mapping[str, Any], config: RunnableConfig, runtime: Runtime
    ) -> dict[str, Any]:
        """Hand the requests to the background; return no state update."""
        settings = formation_settings()
        thread_id = (config.get("configurable") or {}).get("thread_id")
        if runtime.server_info is None or not thread_id:
            return {}
        thread_id = str(thread_id)
        user_id = resolve_identity(runtime, config).require_user()
        later = background()
        if OWNER_KEY not in (config.get("metadata") or {}):  # the run carries the thread's
            later.submit(
                f"owner\x00{thread_id}",
                lambda: record_owner(server_client(), thread_id, user_id),
                "record the thread's owner",
            )
        if settings.enabled:
            messages = list(state["messages"])
            later.submit(
                f"formation\x00{manager_thread_id(user_id, thread_id)}",
                lambda: schedule_formation(server_client(), user_id, thread_id, messages, settings),
                "schedule memory formation",
            )
        return {}
