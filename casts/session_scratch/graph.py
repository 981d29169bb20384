"""The session-scratch cast: temporary data of one session, with expiry, no LLM.

Served by ``langgraph.json`` as ``session_scratch``; compiled without persistence (the
server injects the project's store and checkpointer).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from casts.base_graph import BaseGraph, add_nodes
from casts.memory.context import MemoryContext
from casts.session_scratch.modules.state import ScratchInput, ScratchOutput, ScratchState
from casts.session_scratch.nodes import (
    EndScratchSession,
    LoadScratch,
    WriteScratchEntries,
    route_action,
)


class SessionScratchGraph(BaseGraph):
    """START -> (write_scratch_entries | end_scratch_session) -> load_scratch -> END."""

    name = "session_scratch"

    def define(self) -> StateGraph:
        """Each change hands over to ``load_scratch``; ``read`` goes there directly."""
        builder = StateGraph(
            ScratchState,
            context_schema=MemoryContext,
            input_schema=ScratchInput,
            output_schema=ScratchOutput,
        )
        load = LoadScratch()
        changes = (WriteScratchEntries(), EndScratchSession())
        add_nodes(builder, load, *changes)
        builder.add_conditional_edges(
            START, route_action, [load.name, *(node.name for node in changes)]
        )
        for node in changes:
            builder.add_edge(node.name, load.name)
        builder.add_edge(load.name, END)
        return builder


graph = SessionScratchGraph()()
