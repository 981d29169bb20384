"""BaseGraph: how every cast assembles its graph.

Graphs exported through ``langgraph.json`` are compiled *without* checkpointer or store:
``langgraph dev`` refuses graphs that bring their own, and injects the ones configured in
``langgraph.json``. Scripts and tests pass explicit persistence to ``build``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from langgraph._internal._runnable import RunnableCallable
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import tools_condition
from langgraph.store.base import BaseStore

from casts.base_node import AsyncBaseNode, BaseNode
from casts.memory.core.context import UserContext
from casts.memory.core.errors import InvalidValueError

Node = BaseNode | AsyncBaseNode


class BaseGraph(ABC):
    """A cast's graph definition.

    Subclasses set ``name`` and the schemas, and implement ``define`` to add nodes and edges
    to ``new_builder()``. Separate input and output schemas keep Studio's form clean; the
    default context schema marks ``user_id`` required, as every cast acts for a user.
    """

    name: str
    state_schema: type
    input_schema: type
    output_schema: type
    context_schema: type = UserContext

    def new_builder(self) -> StateGraph:
        """An empty builder carrying the cast's state, input, output and context schemas."""
        return StateGraph(
            self.state_schema,
            context_schema=self.context_schema,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
        )

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


def add_nodes(builder: StateGraph, *nodes: Node) -> StateGraph:
    """Add BaseNode instances under their own names.

    An AsyncBaseNode gets its sync entry too, so the graph also runs under ``invoke``.
    """
    for node in nodes:
        if isinstance(node, AsyncBaseNode):
            # LangGraph's own node wrapper: it takes a sync and an async function, and
            # injects config and runtime by parameter name into either.
            both = RunnableCallable(node.call_blocking, node, name=node.name, trace=False)
            builder.add_node(node.name, both)
        else:
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


def route_by_action(
    builder: StateGraph, routes: Mapping[str, Node], *, then: Node | None = None
) -> StateGraph:
    """Wire a structured-input cast: START -> the node of the request's ``action`` -> END.

    Args:
        builder: The cast's builder.
        routes: Which node handles each action (a node may serve several actions).
        then: A node every other route hands over to before END (e.g. one that reads the
            result back); a route may point at it directly.
    """
    handlers = list({id(node): node for node in routes.values()}.values())
    add_nodes(builder, *[node for node in handlers if node is not then])
    if then is not None:
        add_nodes(builder, then)
    router = action_router({action: node.name for action, node in routes.items()})
    builder.add_conditional_edges(START, router, [node.name for node in handlers])
    for node in handlers:
        if node is not then:
            builder.add_edge(node.name, then.name if then is not None else END)
    if then is not None:
        builder.add_edge(then.name, END)
    return builder


def add_tool_loop(
    builder: StateGraph, *, first: str, agent: str, tools: str, last: str | None = None
) -> StateGraph:
    """Wire an agent: START -> first -> agent <-> tools, until the agent calls no tool.

    ``last``, when given, runs after the agent's final answer, before END (e.g. scheduling
    background work for the turn).
    """
    builder.add_edge(START, first)
    builder.add_edge(first, agent)
    # tools_condition answers "tools" or END; map its answer onto the cast's node name.
    finish = END if last is None else last
    builder.add_conditional_edges(agent, tools_condition, {"tools": tools, END: finish})
    if last is not None:
        builder.add_edge(last, END)
    builder.add_edge(tools, agent)
    return builder


__all__ = ["BaseGraph", "action_router", "add_nodes", "add_tool_loop", "route_by_action"]
