"""BaseGraph: how every cast assembles its graph.

Graphs exported through ``langgraph.json`` are compiled *without* checkpointer or store:
``langgraph dev`` refuses graphs that bring their own, and injects the ones configured in
``langgraph.json``. Scripts and tests pass explicit persistence to ``build``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from casts.base_node import AsyncBaseNode, BaseNode
from casts.memory.errors import InvalidValueError


class BaseGraph(ABC):
    """A cast's graph definition.

    Subclasses set ``name`` and implement ``define`` to add nodes and edges to a builder.
    """

    name: str

    @abstractmethod
    def define(self) -> StateGraph:
        """Return the uncompiled graph: nodes, edges and schemas."""

    def build(
        self,
        *,
        checkpointer: BaseCheckpointSaver | None = None,
        store: BaseStore | None = None,
    ) -> CompiledStateGraph:
        """Compile the graph, with explicit persistence for scripts and tests."""
        return self.define().compile(checkpointer=checkpointer, store=store, name=self.name)

    def __call__(self) -> CompiledStateGraph:
        """The graph as ``langgraph.json`` serves it: no persistence of its own."""
        return self.build()


def add_nodes(builder: StateGraph, *nodes: BaseNode | AsyncBaseNode) -> StateGraph:
    """Add BaseNode instances under their own names."""
    for node in nodes:
        builder.add_node(node.name, node)
    return builder


def action_router(actions: Mapping[str, str]) -> Callable[[Mapping[str, Any]], str]:
    """A conditional-edge function sending a request to the node of its ``action``.

    Structured-input casts take an ``action`` field; an unknown one is refused naming the
    field and the valid choices, before any node runs.
    """

    def route_action(state: Mapping[str, Any]) -> str:
        action = state.get("action")
        if action not in actions:
            raise InvalidValueError(
                "action", f"must be one of {', '.join(actions)}; got {action!r}"
            )
        return actions[action]

    return route_action


__all__ = ["BaseGraph", "action_router", "add_nodes"]
