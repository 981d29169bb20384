"""BaseNode and AsyncBaseNode: every node of every cast derives from one of them.

A subclass implements ``execute(self, state)``, optionally with ``config`` and/or ``runtime``
parameters and nothing else. The signature is checked once, when the subclass is defined,
so a mistake fails at import rather than in the middle of a run. LangGraph injects
``config`` and ``runtime`` by parameter name into the node's ``__call__``; the node hands on
only what ``execute`` declares (decided once per class, not on every call).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, ClassVar

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Command

INJECTABLE = ("config", "runtime")


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _NodeRules:
    """What BaseNode and AsyncBaseNode share: the signature check and the result check."""

    is_async: ClassVar[bool]
    name: ClassVar[str]
    _injected: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _snake_case(cls.__name__)
        execute = cls.__dict__.get("execute")
        if execute is None:
            return  # an intermediate base class, or one that inherits a checked execute
        cls._injected = _check_signature(cls, execute)

    def execute(self, state: Any) -> Any:  # pragma: no cover - replaced by subclasses
        """Do the node's work; return a dict of state updates or a ``Command``."""
        raise NotImplementedError

    def _arguments(self, config: RunnableConfig, runtime: Runtime | None) -> dict[str, Any]:
        offered = {"config": config, "runtime": runtime}
        return {name: offered[name] for name in self._injected}

    def _checked(self, result: Any) -> dict[str, Any] | Command:
        if isinstance(result, (dict, Command)):
            return result
        raise TypeError(
            f"Node {self.name!r} ({type(self).__name__}.execute) returned "
            f"{type(result).__name__}; a node must return a dict of state updates or a Command."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _check_signature(cls: type[_NodeRules], execute: Any) -> tuple[str, ...]:
    """Validate ``execute`` and return the injectable parameters it declares, in order."""
    if inspect.iscoroutinefunction(execute) != cls.is_async:
        wanted, base = ("async def", "AsyncBaseNode") if cls.is_async else ("def", "BaseNode")
        other = "AsyncBaseNode" if not cls.is_async else "BaseNode"
        raise TypeError(
            f"{cls.__name__}.execute must be '{wanted}' because {cls.__name__} derives from "
            f"{base}; derive from {other} instead, or change execute."
        )
    params = list(inspect.signature(execute).parameters.values())
    if len(params) < 2 or params[0].name != "self":
        raise TypeError(f"{cls.__name__}.execute must take (self, state[, config][, runtime])")
    state, *extra = params[1:]
    if state.kind not in (state.POSITIONAL_ONLY, state.POSITIONAL_OR_KEYWORD):
        raise TypeError(
            f"{cls.__name__}.execute: parameter {state.name!r} must be the positional state"
        )
    injected: list[str] = []
    for param in extra:
        if param.name not in INJECTABLE or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"{cls.__name__}.execute has parameter {param.name!r}; after state it may "
                "declare only 'config' and/or 'runtime' (LangGraph injects them by name)."
            )
        if param.name in injected:
            raise TypeError(f"{cls.__name__}.execute declares {param.name!r} twice")
        injected.append(param.name)
    return tuple(injected)


class BaseNode(_NodeRules):
    """A synchronous node. LangGraph runs it in a worker thread when the graph runs async."""

    is_async = False

    def __call__(
        self, state: Any, config: RunnableConfig, runtime: Runtime
    ) -> dict[str, Any] | Command:
        """Run ``execute`` with the injected arguments it declares and check its result."""
        return self._checked(self.execute(state, **self._arguments(config, runtime)))


class AsyncBaseNode(_NodeRules):
    """An asynchronous node; ``execute`` is ``async def``.

    ``add_nodes`` registers it with a sync entry as well (``call_blocking``), so a sync
    script can ``graph.invoke`` a cast whose nodes are async.
    """

    is_async = True

    def call_blocking(
        self, state: Any, config: RunnableConfig, runtime: Runtime
    ) -> dict[str, Any] | Command:
        """Run the node under sync ``graph.invoke``, on the event loop the run's store serves.

        The store (an ``AsyncPostgresStore`` underneath) works only on the loop it was opened
        in, so the node runs there (``open_store_sync``'s loop in a script); ``ainvoke`` and
        the server never come here, they await ``__call__``.

        Raises:
            BlockingCallError: ``invoke`` was called on an event loop's thread; use ``ainvoke``.
        """
        # Imported here, not at the top: the memory package's own nodes derive from this module.
        from casts.memory.store.blocking import on_loop_of

        return on_loop_of(getattr(runtime, "store", None), self, state, config, runtime)

    async def __call__(
        self, state: Any, config: RunnableConfig, runtime: Runtime
    ) -> dict[str, Any] | Command:
        """Await ``execute`` with the injected arguments it declares and check its result."""
        return self._checked(await self.execute(state, **self._arguments(config, runtime)))
