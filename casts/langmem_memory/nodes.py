"""Nodes of the LangMem agent: check the user, and run LangMem's tools in their namespace."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from casts.base_node import AsyncBaseNode
from casts.langmem_memory.modules.state import LangMemState
from casts.langmem_memory.modules.tools import require_langmem, user_langmem_tools
from casts.memory import MemoryContext, require_store, resolve_identity

TOOL_ERRORS: tuple[type[Exception], ...] = (ValueError,)
"""Returned to the model as text: LangMem's refusals (update without id, ...) and the
store's validation errors are ValueErrors."""


class RequireUser(AsyncBaseNode):
    """Refuse a run that cannot work, before the model is called.

    It refuses a run that does not say whose memory it uses, and one on a server without
    LangMem (an optional extra), naming what to install.
    """

    async def execute(self, state: LangMemState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Raise ``ConfigurationError`` without LangMem, ``MissingIdentityError`` without a user."""
        require_langmem()
        resolve_identity(runtime).require_user()
        return {}


class RunLangMemTools(AsyncBaseNode):
    """Run the model's LangMem tool calls in the current user's namespace.

    The tools are built for this call with the namespace of the user ``resolve_identity``
    returns -- the bridge LangMem lacks for ``context`` (LangMem issue 108) -- and executed
    by a ``ToolNode``.
    """

    name = "tools"

    async def execute(
        self, state: LangMemState, config: RunnableConfig, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Execute the latest tool calls and return their tool messages."""
        user_id = resolve_identity(runtime).require_user()
        tools = user_langmem_tools(user_id, require_store(runtime))
        return await ToolNode(tools, handle_tool_errors=TOOL_ERRORS).ainvoke(state, config)
