"""BaseGraph wiring helpers: routing by action and the agent tool loop."""

from __future__ import annotations

import pytest
from langgraph.graph import StateGraph
from typing_extensions import TypedDict

from casts.base_graph import BaseGraph, route_by_action
from casts.base_node import BaseNode
from casts.memory.core.errors import InvalidValueError


class State(TypedDict, total=False):
    action: str
    trail: list[str]


class Write(BaseNode):
    def execute(self, state):
        return {"trail": [*state.get("trail", []), "write"]}


class Read(BaseNode):
    def execute(self, state):
        return {"trail": [*state.get("trail", []), "read"]}


class TinyGraph(BaseGraph):
    name = "tiny"
    state_schema = State
    input_schema = State
    output_schema = State

    def define(self) -> StateGraph:
        read = Read()
        return route_by_action(self.new_builder(), {"read": read, "write": Write()}, then=read)


def test_each_action_reaches_its_node_then_the_shared_one():
    graph = TinyGraph().build()
    assert graph.invoke({"action": "write"})["trail"] == ["write", "read"]
    assert graph.invoke({"action": "read"})["trail"] == ["read"]


@pytest.mark.parametrize("action", [None, "delete"])
def test_unknown_action_is_refused_naming_the_field(action):
    with pytest.raises(InvalidValueError) as caught:
        TinyGraph().build().invoke({"action": action} if action else {})
    assert caught.value.field == "action"
    assert "read, write" in caught.value.reason


def test_builder_carries_the_cast_schemas():
    graph = TinyGraph().build()
    assert set(graph.get_input_jsonschema()["properties"]) == {"action", "trail"}
    assert graph.get_context_jsonschema()["properties"].keys() >= {"user_id", "team_id"}
