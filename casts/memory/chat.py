"""The chat model of the LLM casts and the node that calls it.

The served graphs are compiled without a model: building one at import would make
``langgraph dev`` fail to start without an API key. ``CallModel`` builds it at run time
instead, so a run without a key fails with a message naming the settings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from casts.base_node import AsyncBaseNode
from casts.memory.errors import ConfigurationError
from casts.memory.settings import DEFAULT_CHAT_MODEL, Settings, current

DEFAULT_MODEL = DEFAULT_CHAT_MODEL


def chat_model_from_env(env: Mapping[str, str] | None = None) -> BaseChatModel:
    """ChatOpenAI configured by ``MEMORY_AGENT_MODEL``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``.

    Args:
        env: Variables to read the settings from; the process's settings by default.

    Raises:
        ConfigurationError: ``OPENAI_API_KEY`` is not set.
    """
    settings = current() if env is None else Settings.from_env(env)
    name = settings.agent_model
    if settings.openai_api_key is None:
        raise ConfigurationError(
            f"The agent's chat model ({name}) needs OPENAI_API_KEY: set it in the environment "
            "or .env. MEMORY_AGENT_MODEL chooses the model (default gpt-4o-mini); "
            "OPENAI_BASE_URL points at an OpenAI-compatible server (a local server that "
            "needs no key still wants a placeholder OPENAI_API_KEY)."
        )
    return _chat_model(name, settings.openai_base_url, settings.openai_api_key.get_secret_value())


@functools.lru_cache(maxsize=4)
def _chat_model(name: str, base_url: str | None, api_key: str) -> BaseChatModel:
    """One client per configuration, reused across runs (it holds the HTTP connections)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=name, base_url=base_url, api_key=api_key)


class Conversation(TypedDict):
    """A chat graph's messages; new messages are appended (``add_messages``)."""

    messages: Annotated[list[AnyMessage], add_messages]


class CallModel(AsyncBaseNode):
    """Call the chat model with a system prompt and tools; its tool calls drive the loop.

    Args:
        model: The chat model; None builds ChatOpenAI from the environment at run time
            (see ``chat_model_from_env``), so the served graph imports without an API key.
        tools: The tools the model may call (their schemas are bound to the model).
        system_prompt: Renders the system prompt from the state.
    """

    name = "agent"

    def __init__(
        self,
        model: BaseChatModel | None,
        tools: Sequence[BaseTool],
        system_prompt: Callable[[Any], str],
    ) -> None:
        self.model = model
        self.tools = list(tools)
        self.system_prompt = system_prompt

    async def execute(self, state: Any) -> dict[str, Any]:
        """Answer, or ask for tools, given the system prompt and the conversation."""
        model = self.model if self.model is not None else chat_model_from_env()
        bound = model.bind_tools(self.tools)
        prompt = SystemMessage(self.system_prompt(state))
        response = await bound.ainvoke([prompt, *state["messages"]])
        return {"messages": [response]}
