"""Helpers for tools: errors become messages the model can act on.

A tool that raises ends the run; a tool that returns "Error: <field>: <reason>" lets the
model correct its call. Only the project's own errors (bad input, missing identity, access
refused) are turned into messages; anything else is a bug and still raises.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from casts.memory.errors import MemoryCastError

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
