"""The team-workspace cast: context shared by a team's members across threads, no LLM.

Served by ``langgraph.json`` as ``team_workspace``; compiled without persistence (the server
injects the project's store and checkpointer).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from casts.base_graph import BaseGraph, add_nodes
from casts.memory.context import MemoryContext
from casts.team_workspace.modules.state import WorkspaceInput, WorkspaceOutput, WorkspaceState
from casts.team_workspace.nodes import (
    AddTeamMember,
    CreateTeam,
    LoadWorkspace,
    RemoveTeamMember,
    WriteEntries,
    route_action,
)


class TeamWorkspaceGraph(BaseGraph):
    """START -> (change chosen by ``action``) -> load_workspace -> END."""

    name = "team_workspace"

    def define(self) -> StateGraph:
        """Each change node hands over to ``load_workspace``; ``read`` goes there directly."""
        builder = StateGraph(
            WorkspaceState,
            context_schema=MemoryContext,
            input_schema=WorkspaceInput,
            output_schema=WorkspaceOutput,
        )
        load = LoadWorkspace()
        changes = (WriteEntries(), CreateTeam(), AddTeamMember(), RemoveTeamMember())
        add_nodes(builder, load, *changes)
        builder.add_conditional_edges(
            START, route_action, [load.name, *(node.name for node in changes)]
        )
        for node in changes:
            builder.add_edge(node.name, load.name)
        builder.add_edge(load.name, END)
        return builder


graph = TeamWorkspaceGraph()()
