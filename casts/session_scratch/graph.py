"""The session-scratch cast: temporary data of one session, with expiry, no LLM.

Served by ``langgraph.json`` as ``session_scratch``; compiled without persistence (the
server injects the project's store and checkpointer).
"""

from __future__ import annotations

from langgraph.graph import StateGraph

from casts.base_graph import BaseGraph, route_by_action
from casts.session_scratch.modules.state import ScratchInput, ScratchOutput, ScratchState
from casts.session_scratch.nodes import (
    EndScratchSession,
    LoadScratch,
    WriteScratchEntries,
)


class SessionScratchGraph(BaseGraph):
    """START -> (write_scratch_entries | end_scratch_session) -> load_scratch -> END."""

    name = "session_scratch"
    state_schema = ScratchState
    input_schema = ScratchInput
    output_schema = ScratchOutput

    def define(self) -> StateGraph:
        """Each change hands over to ``load_scratch``; ``read`` goes there directly."""
        load = LoadScratch()
        routes = {"read": load, "write": WriteScratchEntries(), "end": EndScratchSession()}
        return route_by_action(self.new_builder(), routes, then=load)


graph = SessionScratchGraph()()
