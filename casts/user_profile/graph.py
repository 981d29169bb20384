"""The user-profile cast: read and change a user's profile and preferences, no LLM.

Served by ``langgraph.json`` as ``user_profile``; compiled without persistence (the server
injects the project's store and checkpointer).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from casts.base_graph import BaseGraph, add_nodes
from casts.user_profile.modules.state import ProfileInput, ProfileOutput, ProfileState
from casts.user_profile.nodes import ApplyProfileChanges, LoadProfile


class UserProfileGraph(BaseGraph):
    """apply_profile_changes -> load_profile."""

    name = "user_profile"
    state_schema = ProfileState
    input_schema = ProfileInput
    output_schema = ProfileOutput

    def define(self) -> StateGraph:
        """Two nodes in a line: write what was asked, then return the profile."""
        builder = self.new_builder()
        apply_changes, load = ApplyProfileChanges(), LoadProfile()
        add_nodes(builder, apply_changes, load)
        builder.add_edge(START, apply_changes.name)
        builder.add_edge(apply_changes.name, load.name)
        builder.add_edge(load.name, END)
        return builder


graph = UserProfileGraph()()
