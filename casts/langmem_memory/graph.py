"""The LangMem agent: the memory agent's loop with LangMem's manage/search memory tools.

Served by ``langgraph.json`` as ``langmem_memory``; compiled without persistence and
without a model (ChatOpenAI is built at run time, as for the memory agent). Tests pass a
model: ``LangMemGraph(model=...)``.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.graph import StateGraph

from casts.base_graph import BaseGraph, add_nodes, add_tool_loop
from casts.langmem_memory.modules.prompts import render_system_prompt
from casts.langmem_memory.modules.state import AgentInput, AgentOutput, LangMemState
from casts.langmem_memory.modules.tools import SCHEMA_TOOLS
from casts.langmem_memory.nodes import RequireUser, RunLangMemTools
from casts.memory import CallModel


class LangMemGraph(BaseGraph):
    """require_user -> agent <-> tools, until the agent calls no tool.

    Args:
        model: The chat model; None (the served graph) builds ChatOpenAI at run time.
    """

    name = "langmem_memory"
    state_schema = LangMemState
    input_schema = AgentInput
    output_schema = AgentOutput

    def __init__(self, model: BaseChatModel | None = None) -> None:
        self.model = model

    def define(self) -> StateGraph:
        """Check the user, then loop between the model and LangMem's tools."""
        builder = self.new_builder()
        check = RequireUser()
        agent = CallModel(self.model, SCHEMA_TOOLS, render_system_prompt)
        tools = RunLangMemTools()
        add_nodes(builder, check, agent, tools)
        return add_tool_loop(builder, first=check.name, agent=agent.name, tools=tools.name)


graph = LangMemGraph()()
