"""Helpers for tools: errors become messages the model can act on; sync runs work too.

A tool that raises ends the run; a tool that returns "Error: <field>: <reason>" lets the
model correct its call. Only the project's own errors (bad input, missing identity, access
refused) are turned into messages; anything else is a bug and still raises.

Every tool is written once, as a coroutine. ``runs_sync`` gives it the sync entry that
``graph.invoke``'s ToolNode calls, so the same tool works under ``invoke`` and ``ainvoke``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from langchain.tools import ToolRuntime
from langchain_core.tools import StructuredTool

from casts.memory.core.errors import MemoryCastError
from casts.memory.store.blocking import on_loop_of

F = TypeVar("F", bound=Callable[..., Any])


def error_message(error: MemoryCastError) -> str:
    """The text a tool returns for a refused call."""
    return f"Error: {error} Nothing was stored."


def report_errors(function: F) -> F:
    """Return the project's errors to the model as text instead of raising."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await function(*args, **kwargs)
            except MemoryCastError as error:
                return error_message(error)

        return guarded_async  # type: ignore[return-value]

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except MemoryCastError as error:
            return error_message(error)

    return guarded  # type: ignore[return-value]


def runs_sync(tool: StructuredTool) -> StructuredTool:
    """Give an async tool a sync entry that runs its coroutine on the store's event loop.

    ``@tool`` on a coroutine makes a tool only ``ainvoke`` can call; under ``graph.invoke``
    the ToolNode calls it synchronously and it fails ("does not support sync invocation").
    The sync entry runs the same coroutine through ``casts.memory.store.blocking.on_loop_of`` on
    the loop the run's store serves (an ``AsyncPostgresStore`` works only there), so no tool
    body is copied. It keeps the coroutine's signature, so the model sees the same schema and
    the ToolNode injects the same ``runtime``. Apply it above ``@tool``.

    Raises:
        TypeError: ``tool`` has no coroutine (a sync tool needs no sync entry).
    """
    coroutine = tool.coroutine
    if coroutine is None:
        raise TypeError(f"runs_sync: tool {tool.name!r} is not async; it needs no sync entry.")

    @functools.wraps(coroutine)
    def run_on_store_loop(*args: Any, **kwargs: Any) -> Any:
        runtime = next((v for v in kwargs.values() if isinstance(v, ToolRuntime)), None)
        return on_loop_of(getattr(runtime, "store", None), coroutine, *args, **kwargs)

    tool.func = run_on_store_loop
    return tool
