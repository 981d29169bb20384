"""LangMem's memory tools, bound to the current user's namespace -- never the model's choice.

LangMem fills namespace templates such as ``("user", "{user_id}", "memories")`` from
``config["configurable"]`` only (LangMem issue 108), so a user given through LangGraph's
``context`` would not reach them. Instead of templates, the tools are built for each call
with the concrete namespace ``namespaces.user_memories(user_id)`` of the user that
``resolve_identity`` returns, and with the run's store.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool
from langgraph.store.base import BaseStore
from langmem import create_manage_memory_tool, create_search_memory_tool
from langmem.utils import NamespaceTemplate

from casts.memory import namespaces
from casts.memory.namespaces import Namespace

UNBOUND = ("langgraph", "unbound")
"""The namespace of the schema-only tools: the store refuses LangGraph's reserved root."""


def literal_namespace(namespace: Namespace) -> NamespaceTemplate:
    """A LangMem namespace with no placeholders.

    LangMem treats any label starting with ``{`` as a placeholder to fill from the config;
    a user id such as ``{thread_id}`` must stay a literal label instead.
    """
    template = NamespaceTemplate(namespace)
    template.vars = {}
    return template


def langmem_tools(namespace: Namespace, store: BaseStore | None) -> list[BaseTool]:
    """LangMem's ``manage_memory`` and ``search_memory`` tools for one namespace and store."""
    fixed = literal_namespace(namespace)
    return [
        create_manage_memory_tool(fixed, store=store),  # type: ignore[arg-type]
        create_search_memory_tool(fixed, store=store),  # type: ignore[arg-type]
    ]


def user_langmem_tools(user_id: str, store: BaseStore) -> list[BaseTool]:
    """The tools bound to ``user_id``'s memories (``namespaces.user_memories``)."""
    return langmem_tools(namespaces.user_memories(user_id), store)


SCHEMA_TOOLS = langmem_tools(UNBOUND, None)
"""For binding the tools' schemas to the model only; the tools node runs bound copies."""
