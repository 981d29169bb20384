"""The team-workspace cast: context shared by a team's members across threads, no LLM.

Served by ``langgraph.json`` as ``team_workspace``; compiled without persistence (the server
injects the project's store and checkpointer).
"""

from __future__ import annotations

from langgraph.graph import StateGraph

from casts.base_graph import BaseGraph, route_by_action
from casts.memory import TeamContext
from casts.team_workspace.modules.state import WorkspaceInput, WorkspaceOutput, WorkspaceState
from casts.team_workspace.nodes import (
    AddTeamMember,
    CreateTeam,
    LoadWorkspace,
    RemoveTeamMember,
    WriteEntries,
)


class TeamWorkspaceGraph(BaseGraph):
    """START -> (change chosen by ``action``) -> load_workspace -> END."""

    name = "team_workspace"
    state_schema = WorkspaceState
    input_schema = WorkspaceInput
    output_schema = WorkspaceOutput
    context_schema = TeamContext

    def define(self) -> StateGraph:
        """Each change node hands over to ``load_workspace``; ``read`` goes there directly."""
        load = LoadWorkspace()
        routes = {
            "read": load,
            "write": WriteEntries(),
            "create": CreateTeam(),
            "add_member": AddTeamMember(),
            "remove_member": RemoveTeamMember(),
        }
        return route_by_action(self.new_builder(), routes, then=load)


graph = TeamWorkspaceGraph()()
