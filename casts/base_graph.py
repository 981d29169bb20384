"""BaseGraph: how every cast assembles its graph.

Graphs exported through ``langgraph.json`` are compiled *without* checkpointer or store:
``langgraph dev`` refuses graphs that bring their own, and injects the ones configured in
``langgraph.json``. Scripts and tests pass explicit persistence to ``build``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from casts.base_node import AsyncBaseNode, BaseNode


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


__all__ = ["BaseGraph", "add_nodes"]
