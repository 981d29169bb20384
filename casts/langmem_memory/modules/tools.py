"""LangMem's memory tools, bound to the current user's namespace -- never the model's choice.

LangMem fills namespace templates such as ``("user", "{user_id}", "memories")`` from
``config["configurable"]`` only (LangMem issue 108), so a user given through LangGraph's
``context`` would not reach them. Instead of templates, the tools are built for each call
with the concrete namespace ``namespaces.user_memories(user_id)`` of the user that
``resolve_identity`` returns, and with the run's store.

LangMem is an optional extra: without it this module still imports (so the server serves
every other graph) and ``require_langmem`` makes a run say what to install.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool
from langgraph.store.base import BaseStore

from casts.memory import ConfigurationError, Namespace, namespaces

try:
    import langmem
    from langmem.utils import NamespaceTemplate
except ImportError:
    langmem = None

INSTALL_HINT = "pip install 'memory-casts[langmem]' (in a checkout: pip install -e '.[langmem]')"

UNBOUND = ("langgraph", "unbound")
"""The namespace of the schema-only tools: the store refuses LangGraph's reserved root."""


def require_langmem() -> None:
    """Refuse to go on without LangMem, saying which extra to install.

    Raises:
        ConfigurationError: LangMem is not installed.
    """
    if langmem is None:
        raise ConfigurationError(f"The langmem_memory graph needs LangMem: {INSTALL_HINT}")


def literal_namespace(namespace: Namespace) -> NamespaceTemplate:
    """A LangMem namespace with no placeholders.

    LangMem treats any label starting with ``{`` as a placeholder to fill from the config;
    a user id such as ``{thread_id}`` must stay a literal label instead.
    """
    template = NamespaceTemplate(namespace)
    template.vars = {}
    return template


def langmem_tools(namespace: Namespace, store: BaseStore | None) -> list[BaseTool]:
    """LangMem's ``manage_memory`` and ``search_memory`` tools for one namespace and store.

    Raises:
        ConfigurationError: LangMem is not installed (``require_langmem``).
    """
    require_langmem()
    fixed = literal_namespace(namespace)
    return [
        langmem.create_manage_memory_tool(fixed, store=store),  # type: ignore[arg-type]
        langmem.create_search_memory_tool(fixed, store=store),  # type: ignore[arg-type]
    ]


def user_langmem_tools(user_id: str, store: BaseStore) -> list[BaseTool]:
    """The tools bound to ``user_id``'s memories (``namespaces.user_memories``)."""
    return langmem_tools(namespaces.user_memories(user_id), store)


SCHEMA_TOOLS = langmem_tools(UNBOUND, None) if langmem is not None else []
"""For binding the tools' schemas to the model only; the tools node runs bound copies.
Empty without LangMem: the first node refuses the run before the model is called."""
