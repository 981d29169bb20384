"""The memory manager: forms a user's memories from a conversation, off the chat's hot path.

Served by ``langgraph.json`` as ``memory_manager``. The memory agent schedules it after each
turn (``casts.memory.agent.formation``); a script invokes it directly with
``formation.formation_request(thread_id, messages)`` as input and the user in ``context``.
Tests pass a model: ``MemoryManagerGraph(model=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from casts.base_graph import BaseGraph, action_router, add_nodes
from casts.memory_manager.modules.state import ManagerInput, ManagerOutput, ManagerState
from casts.memory_manager.nodes import (
    DecideActions,
    ExtractCandidates,
    ForgetMe,
    ReadNewMessages,
    RecallRelated,
    WriteMemories,
)


def unless(stop: Callable[[ManagerState], bool], then: str) -> Callable[[ManagerState], str]:
    """A conditional edge: END when ``stop`` holds for the state, else ``then``."""

    def route(state: ManagerState) -> str:
        return END if stop(state) else then

    return route


def _rejected(state: ManagerState) -> bool:
    return bool(state.get("rejected"))


class MemoryManagerGraph(BaseGraph):
    """read_new_messages -> extract_candidates -> recall_related -> decide_actions -> write.

    A run with nothing unread ends after the first step; a rejected model answer ends the
    run before anything is written. ``action="forget_me"`` goes to ``forget_me`` instead.

    Args:
        model: The chat model; None (the served graph) builds ChatOpenAI at run time.
    """

    name = "memory_manager"
    state_schema = ManagerState
    input_schema = ManagerInput
    output_schema = ManagerOutput

    def __init__(self, model: BaseChatModel | None = None) -> None:
        self.model = model

    def define(self) -> StateGraph:
        """Route by action; each extraction step may end the run early."""
        builder = self.new_builder()
        read, extract, recall = ReadNewMessages(), ExtractCandidates(self.model), RecallRelated()
        decide, write, forget = DecideActions(self.model), WriteMemories(), ForgetMe()
        add_nodes(builder, read, extract, recall, decide, write, forget)
        routes: dict[str, Any] = {"extract": read.name, "forget_me": forget.name}
        builder.add_conditional_edges(START, action_router(routes), list(routes.values()))
        nothing_new = unless(lambda state: not state["new_messages"], extract.name)
        builder.add_conditional_edges(read.name, nothing_new, [extract.name, END])
        builder.add_conditional_edges(
            extract.name, unless(_rejected, recall.name), [recall.name, END]
        )
        builder.add_edge(recall.name, decide.name)
        builder.add_conditional_edges(decide.name, unless(_rejected, write.name), [write.name, END])
        builder.add_edge(write.name, END)
        builder.add_edge(forget.name, END)
        return builder


graph = MemoryManagerGraph()()
