"""The chat model of the LLM casts and the node that calls it.

The served graphs are compiled without a model: building one at import would make
``langgraph dev`` fail to start without an API key. ``CallModel`` builds it at run time
instead, so a run without a key fails with a message naming the settings.

``MEMORY_AGENT_MODEL`` takes LangChain's ``provider:model`` form (``init_chat_model``):
``openai:gpt-4o-mini``, ``anthropic:claude-sonnet-4-5``, or any OpenAI-compatible server
with ``openai:<its model>`` and ``OPENAI_BASE_URL``. A name without a provider is an OpenAI
model, as before providers were supported.

A thread's messages grow with every turn, so ``CallModel`` sends the model only the most
recent turns that fit ``MEMORY_AGENT_MAX_PROMPT_TOKENS`` (``fit_to_budget``); the thread's
state keeps every message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AnyMessage,
    HumanMessage,
    SystemMessage,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.tools import BaseTool
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from casts.base_node import AsyncBaseNode
from casts.memory.core.errors import ConfigurationError
from casts.memory.settings import (
    DEFAULT_AGENT_MAX_PROMPT_TOKENS,
    DEFAULT_CHAT_MODEL,
    Settings,
    current,
)

DEFAULT_MODEL = DEFAULT_CHAT_MODEL
DEFAULT_MAX_PROMPT_TOKENS = DEFAULT_AGENT_MAX_PROMPT_TOKENS

API_KEY_SETTINGS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
"""The key each provider needs, checked before the model is built so a run names it.

Other providers read their own settings (their integration package says which)."""


@dataclass(frozen=True)
class ChatSettings:
    """How the LLM casts' chat model is chosen, and how much of a thread it is sent.

    Attributes:
        model: ``provider:model``, or a bare OpenAI model name.
        openai_base_url: An OpenAI-compatible server instead of OpenAI (``openai`` only).
        api_keys: Setting name -> value, for the settings in ``API_KEY_SETTINGS``.
        max_prompt_tokens: The budget of one model call: system prompt and messages (not
            the tool schemas), in ``count_tokens_approximately``'s tokens.
    """

    model: str = DEFAULT_MODEL
    openai_base_url: str | None = None
    api_keys: Mapping[str, str] = field(default_factory=dict)
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS


def chat_settings_from_env(env: Mapping[str, str] | None = None) -> ChatSettings:
    """The chat settings, from the process's settings (``casts.memory.settings.current()``).

    Settings: ``MEMORY_AGENT_MODEL``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
    ``ANTHROPIC_API_KEY``, ``MEMORY_AGENT_MAX_PROMPT_TOKENS``. An empty one means its default.

    Args:
        env: Variables to read instead (``Settings.from_env``), for scripts and tests.

    Raises:
        ConfigurationError: A bad setting in ``env`` (the process's were checked at start-up).
    """
    settings = current() if env is None else Settings.from_env(env)
    keys = {
        "OPENAI_API_KEY": settings.openai_api_key,
        "ANTHROPIC_API_KEY": settings.anthropic_api_key,
    }
    return ChatSettings(
        model=settings.agent_model,
        openai_base_url=settings.openai_base_url,
        api_keys={name: key.get_secret_value() for name, key in keys.items() if key is not None},
        max_prompt_tokens=settings.agent_max_prompt_tokens,
    )


def chat_model_from_env(env: Mapping[str, str] | None = None) -> BaseChatModel:
    """The chat model the settings configure (see ``chat_settings_from_env``)."""
    return chat_model(chat_settings_from_env(env))


def chat_model(settings: ChatSettings) -> BaseChatModel:
    """Build the chat model ``settings.model`` names, through ``init_chat_model``.

    Raises:
        ConfigurationError: the provider is unknown, its integration package is not
            installed (the message names the pip package), or its API key is not set.
    """
    provider, name = _split(settings.model)
    if not name:
        raise ConfigurationError(
            f"MEMORY_AGENT_MODEL={settings.model} names no model: write provider:model"
        )
    key_setting = API_KEY_SETTINGS.get(provider)
    if key_setting and not settings.api_keys.get(key_setting):
        raise ConfigurationError(
            f"The agent's chat model ({settings.model}) needs {key_setting}: set it in the "
            "environment or .env. MEMORY_AGENT_MODEL chooses the model as provider:model "
            f"(default {DEFAULT_MODEL}, an OpenAI model); OPENAI_BASE_URL points at an "
            "OpenAI-compatible server (a local server that needs no key still wants a "
            "placeholder OPENAI_API_KEY)."
        )
    kwargs: dict[str, Any] = {"api_key": settings.api_keys[key_setting]} if key_setting else {}
    if provider == "openai" and settings.openai_base_url:
        kwargs["base_url"] = settings.openai_base_url
    return _init_chat_model(settings.model, provider, name, tuple(sorted(kwargs.items())))


def _split(model: str) -> tuple[str, str]:
    """``provider:model`` -> (provider, model); a bare name is an OpenAI model."""
    provider, colon, name = model.partition(":")
    if not colon:
        return "openai", model
    return provider.strip().lower().replace("-", "_") or "openai", name.strip()


@functools.lru_cache(maxsize=8)
def _init_chat_model(
    spec: str, provider: str, name: str, kwargs: tuple[tuple[str, Any], ...]
) -> BaseChatModel:
    """One client per configuration, reused across runs (it holds the HTTP connections)."""
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(name, model_provider=provider, **dict(kwargs))
    except ImportError as error:  # its message names the pip package
        raise ConfigurationError(f"MEMORY_AGENT_MODEL={spec}: {error}") from error
    except ValueError as error:  # an unknown provider; the message lists the known ones
        raise ConfigurationError(
            f"MEMORY_AGENT_MODEL={spec}: {error}\nWrite provider:model (openai:<model> for "
            "an OpenAI-compatible server, even when the model name has a colon)."
        ) from error


def fit_to_budget(messages: Sequence[AnyMessage], max_tokens: int) -> list[AnyMessage]:
    """The most recent whole turns of ``messages`` that fit ``max_tokens``.

    Kept messages start on a human message, so every tool result travels with the
    assistant message that called the tool (a model API refuses one without the other).
    The current turn -- from the latest human message on -- is always kept whole, even over
    the budget: without it the model would answer a question it was never asked.
    """
    kept = trim_messages(
        messages,
        max_tokens=max_tokens,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        include_system=False,
        allow_partial=False,
    )
    humans = [i for i, message in enumerate(messages) if isinstance(message, HumanMessage)]
    current_turn = list(messages[humans[-1] :]) if humans else list(messages)
    return kept if len(kept) >= len(current_turn) else current_turn


class Conversation(TypedDict):
    """A chat graph's messages; new messages are appended (``add_messages``)."""

    messages: Annotated[list[AnyMessage], add_messages]


class CallModel(AsyncBaseNode):
    """Call the chat model with a system prompt, tools and the thread's recent turns.

    Args:
        model: The chat model; None builds it from the settings at run time (see
            ``chat_settings_from_env``), so the served graph imports without an API key.
        tools: The tools the model may call (their schemas are bound to the model).
        system_prompt: Renders the system prompt from the state.
        max_prompt_tokens: The budget of one call (system prompt and messages); None reads
            ``MEMORY_AGENT_MAX_PROMPT_TOKENS`` at run time.
    """

    name = "agent"

    def __init__(
        self,
        model: BaseChatModel | None,
        tools: Sequence[BaseTool],
        system_prompt: Callable[[Any], str],
        max_prompt_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.tools = list(tools)
        self.system_prompt = system_prompt
        self.max_prompt_tokens = max_prompt_tokens

    async def execute(self, state: Any) -> dict[str, Any]:
        """Answer, or ask for tools, given the system prompt and the conversation."""
        settings = chat_settings_from_env()
        model = self.model if self.model is not None else chat_model(settings)
        budget = (
            settings.max_prompt_tokens if self.max_prompt_tokens is None else self.max_prompt_tokens
        )
        prompt = SystemMessage(self.system_prompt(state))
        room = max(budget - count_tokens_approximately([prompt]), 0)
        messages = fit_to_budget(state["messages"], room)
        response = await model.bind_tools(self.tools).ainvoke([prompt, *messages])
        return {"messages": [response]}
