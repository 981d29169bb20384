"""The knowledge cast: facts that accumulate per topic with provenance, no LLM.

Served by ``langgraph.json`` as ``knowledge``; compiled without persistence (the server
injects the project's store and checkpointer).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from casts.base_graph import BaseGraph, add_nodes
from casts.knowledge.modules.state import KnowledgeInput, KnowledgeOutput, KnowledgeState
from casts.knowledge.nodes import AddFacts, ListFacts, SearchFacts, route_action
from casts.memory.context import MemoryContext


class KnowledgeGraph(BaseGraph):
    """START -> (add_facts | list_facts | search_facts) -> END, chosen by ``action``."""

    name = "knowledge"

    def define(self) -> StateGraph:
        """One node per action; ``route_action`` refuses an unknown action before any work."""
        builder = StateGraph(
            KnowledgeState,
            context_schema=MemoryContext,
            input_schema=KnowledgeInput,
            output_schema=KnowledgeOutput,
        )
        nodes = (AddFacts(), ListFacts(), SearchFacts())
        add_nodes(builder, *nodes)
        builder.add_conditional_edges(START, route_action, [node.name for node in nodes])
        for node in nodes:
            builder.add_edge(node.name, END)
        return builder


graph = KnowledgeGraph()()
