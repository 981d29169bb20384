"""Every setting of the project, read once from the environment, in one place.

``Settings`` declares each setting with the environment variable it comes from (its alias),
its type, its bounds and its default; ``.env.example`` lists exactly these variables (a test
checks it). The process reads them once, on first use -- at server start-up, through the
store factory and the auth handler -- with ``current()``. Nothing else in the project reads
the environment, so a setting cannot change under a running server, and a malformed one
stops the start-up naming its variable instead of failing requests later.

An empty setting means its default (a ``.env`` line ``NAME=`` overrides the process
environment with ""), except the auth settings: present but empty is refused there, because
reading it as "no auth" would open the server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

from casts.memory.core.errors import ConfigurationError

Backend = Literal["postgres", "embedded", "memory"]
PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_MAX_VALUE_BYTES = 256 * 1024
DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"
DEFAULT_AGENT_MAX_PROMPT_TOKENS = 8000


def _env(name: str, default: Any = None, **bounds: Any) -> Any:
    """A field read from the environment variable ``name`` (also settable by field name)."""
    return Field(default, validation_alias=name, **bounds)


class Settings(BaseSettings):
    """How persistence, embeddings, the chat model and auth are chosen (see ``.env.example``).

    ``Settings()`` reads the process environment (pydantic-settings); ``from_env`` reads a
    given mapping the same way and turns validation errors into a ``ConfigurationError``
    naming the variable. Fields can also be given by name, as scripts do.

    Attributes:
        postgres_uri: ``POSTGRES_URI``, the PostgreSQL to use.
        backend: ``MEMORY_BACKEND``: ``postgres`` (``POSTGRES_URI``), ``embedded`` (a local
            PostgreSQL with pgvector whose data survives restarts) or ``memory`` (lost on
            restart); ``auto`` (the default) is ``postgres`` when ``POSTGRES_URI`` is set,
            else ``embedded``.
        data_dir: ``MEMORY_DATA_DIR``, where the embedded server keeps its data (git-ignored).
        embeddings: ``MEMORY_EMBEDDINGS``: ``none``, ``openai``, ``local``, ``hash`` or
            ``module:function``; None (unset) means the local model when it is installed,
            else none (``casts.memory.store.embeddings.embedding_choice`` decides, and warns).
        embedding_dims: ``MEMORY_EMBEDDING_DIMS``, dimensions of a custom, hash or shortened
            OpenAI embedding.
        openai_embedding_model: ``MEMORY_OPENAI_EMBEDDING_MODEL``, the model of ``openai``.
        pool_min_size: ``MEMORY_POOL_MIN_SIZE``, smallest connection pool size.
        pool_max_size: ``MEMORY_POOL_MAX_SIZE``, largest connection pool size.
        ttl_sweep_minutes: ``MEMORY_TTL_SWEEP_MINUTES``, how often expired items are deleted.
        connect_timeout_s: ``MEMORY_CONNECT_TIMEOUT``, how long to wait for PostgreSQL before
            giving up with an error.
        max_value_bytes: ``MEMORY_MAX_VALUE_BYTES``, the largest JSON encoding of one value.
        openai_api_key: ``OPENAI_API_KEY``, for the chat model and OpenAI embeddings.
        openai_base_url: ``OPENAI_BASE_URL``, an OpenAI-compatible server instead of OpenAI.
        anthropic_api_key: ``ANTHROPIC_API_KEY``, for an ``anthropic:`` chat model.
        agent_model: ``MEMORY_AGENT_MODEL``, the chat model of the LLM casts
            (``provider:model``, or a bare OpenAI model name; ``casts.memory.agent.model``).
        agent_max_prompt_tokens: ``MEMORY_AGENT_MAX_PROMPT_TOKENS``, the budget of one model
            call; older turns beyond it are not sent.
        formation: ``MEMORY_FORMATION``, whether a chat turn schedules the memory manager
            (``casts.memory.agent.formation``).
        formation_delay_seconds: ``MEMORY_FORMATION_DELAY_SECONDS``, how long after the
            latest turn of a conversation the manager runs.
        auth_tokens: ``MEMORY_AUTH_TOKENS``, the JSON token table (``casts.memory.auth.tokens``).
        auth_file: ``MEMORY_AUTH_FILE``, a file holding that table.
        allow_open_network: ``MEMORY_ALLOW_OPEN_NETWORK``, serve without auth off loopback.
        server_url: ``LANGGRAPH_API_URL``, where the server listens (``langgraph dev`` sets it).
    """

    model_config = SettingsConfigDict(
        case_sensitive=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        str_strip_whitespace=True,
        env_ignore_empty=False,  # empty auth settings must stay visible to be refused
    )

    # POSTGRES_URI comes before MEMORY_BACKEND: choosing the backend reads it.
    postgres_uri: str | None = _env("POSTGRES_URI")
    backend: Backend = Field("auto", validation_alias="MEMORY_BACKEND", validate_default=True)  # type: ignore[assignment]
    data_dir: Path = _env("MEMORY_DATA_DIR", PROJECT_ROOT / ".data")
    embeddings: str | None = _env("MEMORY_EMBEDDINGS")
    embedding_dims: int | None = _env("MEMORY_EMBEDDING_DIMS", ge=1)
    openai_embedding_model: str = _env(
        "MEMORY_OPENAI_EMBEDDING_MODEL", DEFAULT_OPENAI_EMBEDDING_MODEL, min_length=1
    )
    pool_min_size: int = _env("MEMORY_POOL_MIN_SIZE", 1, ge=1)
    pool_max_size: int = _env("MEMORY_POOL_MAX_SIZE", 10, ge=1)
    ttl_sweep_minutes: float = _env("MEMORY_TTL_SWEEP_MINUTES", 5.0, gt=0, allow_inf_nan=False)
    connect_timeout_s: float = _env("MEMORY_CONNECT_TIMEOUT", 20.0, gt=0, allow_inf_nan=False)
    max_value_bytes: int = _env("MEMORY_MAX_VALUE_BYTES", DEFAULT_MAX_VALUE_BYTES, ge=1)
    openai_api_key: SecretStr | None = _env("OPENAI_API_KEY")
    openai_base_url: str | None = _env("OPENAI_BASE_URL")
    anthropic_api_key: SecretStr | None = _env("ANTHROPIC_API_KEY")
    agent_model: str = _env("MEMORY_AGENT_MODEL", DEFAULT_CHAT_MODEL, min_length=1)
    agent_max_prompt_tokens: int = _env(
        "MEMORY_AGENT_MAX_PROMPT_TOKENS", DEFAULT_AGENT_MAX_PROMPT_TOKENS, ge=1
    )
    formation: bool = _env("MEMORY_FORMATION", True)
    formation_delay_seconds: int = _env("MEMORY_FORMATION_DELAY_SECONDS", 30, ge=0, le=86_400)
    auth_tokens: SecretStr | None = _env("MEMORY_AUTH_TOKENS")
    auth_file: str | None = _env("MEMORY_AUTH_FILE")
    allow_open_network: bool = _env("MEMORY_ALLOW_OPEN_NETWORK", False)
    server_url: str | None = _env("LANGGRAPH_API_URL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting from ``env`` (default: the process environment).

        Raises:
            ConfigurationError: Naming the first bad variable and its value: an unknown
                backend, a postgres backend without a URI, a malformed or out-of-range
                number or flag, an empty or doubled auth setting.
        """
        try:
            return cls() if env is None else cls.model_validate(dict(env))
        except ValidationError as error:
            raise ConfigurationError(_describe(error)) from None

    @classmethod
    def variables(cls) -> list[str]:
        """The environment variables the settings are read from, in declaration order."""
        return [str(field.validation_alias) for field in cls.model_fields.values()]

    @field_validator("*", mode="before")
    @classmethod
    def _empty_means_default(cls, raw: Any, info: ValidationInfo) -> Any:
        """A ``.env`` line ``NAME=`` asks for the default, except for auth (refused below)."""
        auth = info.field_name in ("auth_tokens", "auth_file")
        if not auth and isinstance(raw, str) and not raw.strip():
            raise PydanticUseDefault()
        return raw

    @field_validator("backend", mode="before")
    @classmethod
    def _choose_backend(cls, raw: Any, info: ValidationInfo) -> str:
        choice = str(raw).strip().lower() or "auto"
        uri = info.data.get("postgres_uri")
        if choice == "auto":
            return "postgres" if uri else "embedded"
        if choice not in ("postgres", "embedded", "memory"):
            raise ValueError(
                f"MEMORY_BACKEND={raw!r} is not one of auto, postgres, embedded, memory"
            )
        if choice == "postgres" and not uri:
            raise ValueError("MEMORY_BACKEND=postgres needs POSTGRES_URI")
        return choice

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return Path(os.path.abspath(path.expanduser()))

    @model_validator(mode="before")
    @classmethod
    def _present_means_configured(cls, data: Any) -> Any:
        """Only an unset auth setting means "no auth"; present but empty is refused."""
        if not isinstance(data, Mapping):
            return data
        given = {
            name: data.get(name, data.get(field))
            for name, field in (
                ("MEMORY_AUTH_TOKENS", "auth_tokens"),
                ("MEMORY_AUTH_FILE", "auth_file"),
            )
        }
        present = {name: raw for name, raw in given.items() if raw is not None}
        if len(present) > 1:
            raise ValueError("Set MEMORY_AUTH_TOKENS or MEMORY_AUTH_FILE, not both.")
        for name, raw in present.items():
            text = raw.get_secret_value() if isinstance(raw, SecretStr) else str(raw)
            if not text.strip():
                raise ValueError(
                    f"{name} is set but empty (a `{name}=` line in .env sets it to ''): "
                    "give it a token table, or remove it to run without auth on 127.0.0.1."
                )
        return data


def _describe(error: ValidationError) -> str:
    """The first error as ``NAME='value': what is wrong``, naming the variable."""
    first = error.errors(include_url=False)[0]
    if first["type"] == "value_error":  # our own checks word their whole message
        return str(first["ctx"]["error"])
    name = ".".join(str(part) for part in first["loc"])
    return f"{name}={first['input']!r}: {first['msg'][0].lower()}{first['msg'][1:]}"


_current: Settings | None = None


def current() -> Settings:
    """The process's settings, read from the environment on first use (at start-up).

    Raises:
        ConfigurationError: See ``Settings.from_env``.
    """
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


@contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` the process's settings inside the block (tests and scripts)."""
    global _current
    previous, _current = _current, settings
    try:
        yield settings
    finally:
        _current = previous
