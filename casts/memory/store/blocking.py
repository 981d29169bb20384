"""Calling the async memory operations from sync code, without a sync copy of each.

Every memory operation (``read_profile``, ``remember``, ``asearch_all``...) is written once,
as a coroutine taking the store first. Sync code -- a script, a ``BaseNode`` -- runs one
with ``run_sync(read_profile, store, "ada")``. It runs on the event loop the store serves,
because an ``AsyncPostgresStore`` (and its connection pool) works only on the loop it was
opened in: the loop of ``langgraph dev`` while a sync node runs in a worker thread, the
background loop of ``open_store_sync`` in a script. A store that serves no running loop
(an InMemoryStore made in sync code) gets a loop of its own for the call.

Sync code must not run on an event loop's own thread: it would block the loop, and a
store served by that loop could never answer (the call would wait for itself). That is
refused on every backend with ``BlockingCallError``, so a mistake that would hang or fail
on PostgreSQL fails the same way in tests on InMemoryStore.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from casts.memory.core.errors import MemoryCastError

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")


class BlockingCallError(MemoryCastError, RuntimeError):
    """A sync store call or ``run_sync`` ran on an event loop's own thread."""


def refuse_on_event_loop(what: str) -> None:
    """Raise ``BlockingCallError`` when called on a thread whose event loop is running.

    Raises:
        BlockingCallError: Saying what to do instead.
    """
    if running_loop() is not None:
        raise BlockingCallError(
            f"{what} was called on the event loop's own thread, where it would block the "
            "loop (and a store served by that loop could never answer). In async code await "
            "the async method (aget, asearch, aput, abatch) or the operation itself; run sync "
            "code in a worker thread (asyncio.to_thread), or open the store from a sync "
            "script with casts.memory.store.persistence.open_store_sync."
        )


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running on this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def store_loop(store: Any) -> asyncio.AbstractEventLoop | None:
    """The running event loop ``store`` serves (GuardedStore, AsyncPostgresStore), or None."""
    loop = getattr(store, "loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_running():
        return loop
    return None


def run_sync(
    operation: Callable[Concatenate[S, P], Awaitable[T]],
    store: S,
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run an async memory operation from sync code and return its result.

    Args:
        operation: An async function taking the store first (``read_profile``...).
        store: The store to run it on: the run's ``runtime.store``, or one opened with
            ``open_store_sync``.
        *args: The operation's other arguments.
        **kwargs: The operation's keyword arguments.

    Returns:
        What the operation returns; its errors are raised as they are.

    Raises:
        BlockingCallError: Called on an event loop's own thread; await the operation there.
    """
    return on_loop_of(store, operation, store, *args, **kwargs)


def on_loop_of(
    store: Any, function: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Call an async function from sync code, on the running loop ``store`` serves.

    ``store`` may be None or serve no running loop: the call then gets a loop of its own.
    Either way it runs in a copy of the caller's context variables (both ``asyncio.run`` and
    ``run_coroutine_threadsafe`` copy them), so the run's config LangGraph keeps there
    (``get_config``) is the caller's.

    Raises:
        BlockingCallError: Called on an event loop's own thread.
    """
    refuse_on_event_loop(f"Running {getattr(function, '__name__', 'an operation')} from sync code")
    loop = store_loop(store)
    coroutine = as_coroutine(function(*args, **kwargs))
    if loop is None:
        return asyncio.run(coroutine)
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


async def as_coroutine(awaitable: Awaitable[T]) -> T:
    """A coroutine for any awaitable (``asyncio.run`` takes coroutines only)."""
    return await awaitable
