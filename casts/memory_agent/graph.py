"""The memory agent: a chat agent that remembers the user across threads.

Served by ``langgraph.json`` as ``memory_agent``; compiled without persistence (the server
injects the project's store and checkpointer) and without a model (built at run time from
``MEMORY_AGENT_MODEL``, see ``casts.memory.agent.model``). Tests pass a model:
``MemoryAgentGraph(model=...)``.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.graph import StateGraph
from langgraph.prebuilt import ToolNode

from casts.base_graph import BaseGraph, add_nodes, add_tool_loop
from casts.memory import CallModel, ScheduleFormation
from casts.memory_agent.modules.state import AgentInput, AgentOutput, MemoryAgentState
from casts.memory_agent.modules.tools import MEMORY_TOOLS
from casts.memory_agent.nodes import LoadMemoryContext, memory_agent_prompt

TOOLS_NODE = "tools"


class MemoryAgentGraph(BaseGraph):
    """load_memory_context -> agent <-> tools, until the agent calls no tool.

    Args:
        model: The chat model; None (the served graph) builds it at run time from the
            settings (``casts.memory.settings``).
        max_prompt_tokens: The budget of one model call; older turns beyond it are not sent
            (the thread keeps them). None reads ``MEMORY_AGENT_MAX_PROMPT_TOKENS``.
    """

    name = "memory_agent"
    state_schema = MemoryAgentState
    input_schema = AgentInput
    output_schema = AgentOutput

    def __init__(
        self, model: BaseChatModel | None = None, max_prompt_tokens: int | None = None
    ) -> None:
        self.model = model
        self.max_prompt_tokens = max_prompt_tokens

    def define(self) -> StateGraph:
        """Load once per turn, then loop between the model and its tools."""
        builder = self.new_builder()
        load = LoadMemoryContext()
        agent = CallModel(self.model, MEMORY_TOOLS, memory_agent_prompt, self.max_prompt_tokens)
        add_nodes(builder, load, agent)
        builder.add_node(TOOLS_NODE, ToolNode(MEMORY_TOOLS))
        schedule = ScheduleFormation()  # after the answer: the memory manager, delayed
        add_nodes(builder, schedule)
        return add_tool_loop(
            builder, first=load.name, agent=agent.name, tools=TOOLS_NODE, last=schedule.name
        )


graph = MemoryAgentGraph()()
