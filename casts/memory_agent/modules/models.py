"""The chat model of the served graph, built lazily at run time from the environment.

Building it at import would make ``langgraph dev`` fail to start without an API key; here a
run without one fails with a message naming the settings instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from langchain_core.language_models import BaseChatModel

from casts.memory.errors import ConfigurationError

DEFAULT_MODEL = "gpt-4o-mini"


def chat_model_from_env(env: Mapping[str, str] | None = None) -> BaseChatModel:
    """ChatOpenAI configured by ``MEMORY_AGENT_MODEL``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``.

    Raises:
        ConfigurationError: ``OPENAI_API_KEY`` is not set.
    """
    env = os.environ if env is None else env
    name = env.get("MEMORY_AGENT_MODEL") or DEFAULT_MODEL
    base_url = env.get("OPENAI_BASE_URL") or None
    api_key = env.get("OPENAI_API_KEY")
    if not api_key:
        raise ConfigurationError(
            f"The agent's chat model ({name}) needs OPENAI_API_KEY: set it in the environment "
            "or .env. MEMORY_AGENT_MODEL chooses the model (default gpt-4o-mini); "
            "OPENAI_BASE_URL points at an OpenAI-compatible server (a local server that "
            "needs no key still wants a placeholder OPENAI_API_KEY)."
        )
    return _chat_model(name, base_url, api_key)


@functools.lru_cache(maxsize=4)
def _chat_model(name: str, base_url: str | None, api_key: str) -> BaseChatModel:
    """One client per configuration, reused across runs (it holds the HTTP connections)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=name, base_url=base_url, api_key=api_key)
