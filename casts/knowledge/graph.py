"""The knowledge cast: facts that accumulate per topic with provenance, no LLM.

Served by ``langgraph.json`` as ``knowledge``; compiled without persistence (the server
injects the project's store and checkpointer).
"""

from __future__ import annotations

from langgraph.graph import StateGraph

from casts.base_graph import BaseGraph, route_by_action
from casts.knowledge.modules.state import KnowledgeInput, KnowledgeOutput, KnowledgeState
from casts.knowledge.nodes import AddFacts, ListFacts, SearchFacts


class KnowledgeGraph(BaseGraph):
    """START -> (add_facts | list_facts | search_facts) -> END, chosen by ``action``."""

    name = "knowledge"
    state_schema = KnowledgeState
    input_schema = KnowledgeInput
    output_schema = KnowledgeOutput

    def define(self) -> StateGraph:
        """One node per action; an unknown action is refused before any work."""
        routes = {"add": AddFacts(), "list": ListFacts(), "search": SearchFacts()}
        return route_by_action(self.new_builder(), routes)


graph = KnowledgeGraph()()
