"""Settings read from the environment, in one place (see ``.env.example``)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from casts.memory.errors import ConfigurationError

Backend = Literal["postgres", "embedded", "memory"]
PROJECT_ROOT = Path(__file__).resolve().parents[2]


DEFAULT_RECALL_CACHE_ITEMS = 50_000
DEFAULT_MAX_VALUE_BYTES = 256 * 1024
DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """How persistence and embeddings are chosen.

    Attributes:
        backend: ``postgres`` (``POSTGRES_URI``), ``embedded`` (a local PostgreSQL with
            pgvector whose data survives restarts) or ``memory`` (lost on restart).
        postgres_uri: Connection string when ``backend`` is ``postgres``.
        data_dir: Where the embedded server keeps its data (git-ignored).
        embeddings: ``none``, ``openai``, ``local``, ``hash`` or ``module:function``.
        embedding_dims: Dimensions of a custom or hash embedding.
        pool_min_size: Smallest connection pool size.
        pool_max_size: Largest connection pool size.
        ttl_sweep_minutes: How often expired items are deleted.
        connect_timeout_s: How long to wait for PostgreSQL before giving up with an error.
        recall_cache_items: Items of recalled namespaces each process keeps in memory on
            PostgreSQL (``casts.memory.recall_cache``); 0 recalls in SQL every time.
        max_value_bytes: The largest JSON encoding of one stored value.
        openai_embedding_model: The OpenAI model of ``embeddings=openai``.
    """

    backend: Backend
    postgres_uri: str | None
    data_dir: Path
    embeddings: str = "none"
    embedding_dims: int | None = None
    pool_min_size: int = 1
    pool_max_size: int = 10
    ttl_sweep_minutes: float = 5.0
    connect_timeout_s: float = 20.0
    recall_cache_items: int = DEFAULT_RECALL_CACHE_ITEMS
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    openai_embedding_model: str = DEFAULT_OPENAI_EMBEDDING_MODEL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings, choosing the backend.

        ``MEMORY_BACKEND`` selects explicitly (``postgres``, ``embedded``, ``memory``); when it
        is unset or ``auto``, ``POSTGRES_URI`` set means PostgreSQL, else the embedded server.

        Every setting is checked here, once, so that a malformed one stops the server at
        start-up with its name rather than failing requests later. An empty setting means
        its default (a ``.env`` line ``NAME=`` overrides the process environment with "").

        Raises:
            ConfigurationError: For an unknown backend, a postgres backend without a URI, or a
                malformed or out-of-range number, naming the setting.
        """
        env = os.environ if env is None else env
        uri = env.get("POSTGRES_URI") or None
        choice = (env.get("MEMORY_BACKEND") or "auto").strip().lower()
        if choice == "auto":
            backend: Backend = "postgres" if uri else "embedded"
        elif choice in ("postgres", "embedded", "memory"):
            backend = choice  # type: ignore[assignment]
        else:
            raise ConfigurationError(
                f"MEMORY_BACKEND={choice!r} is not one of auto, postgres, embedded, memory"
            )
        if backend == "postgres" and not uri:
            raise ConfigurationError("MEMORY_BACKEND=postgres needs POSTGRES_URI")
        data_dir = Path(env.get("MEMORY_DATA_DIR") or PROJECT_ROOT / ".data").expanduser()
        return cls(
            backend=backend,
            postgres_uri=uri,
            data_dir=Path(os.path.abspath(data_dir)),
            embeddings=(env.get("MEMORY_EMBEDDINGS") or "none").strip(),
            embedding_dims=_positive_int(env, "MEMORY_EMBEDDING_DIMS"),
            pool_min_size=_positive_int(env, "MEMORY_POOL_MIN_SIZE") or 1,
            pool_max_size=_positive_int(env, "MEMORY_POOL_MAX_SIZE") or 10,
            ttl_sweep_minutes=_positive_float(env, "MEMORY_TTL_SWEEP_MINUTES", 5.0),
            connect_timeout_s=_positive_float(env, "MEMORY_CONNECT_TIMEOUT", 20.0),
            recall_cache_items=_count(env, "MEMORY_RECALL_CACHE_ITEMS", DEFAULT_RECALL_CACHE_ITEMS),
            max_value_bytes=max_value_bytes(env),
            openai_embedding_model=(
                env.get("MEMORY_OPENAI_EMBEDDING_MODEL") or DEFAULT_OPENAI_EMBEDDING_MODEL
            ).strip(),
        )


def max_value_bytes(env: Mapping[str, str]) -> int:
    """``MEMORY_MAX_VALUE_BYTES``: a whole number of bytes, at least 1 (default 256 KiB).

    ``casts.memory.values`` reads it through here on each check, so tests and scripts that
    change the environment see the change; ``Settings.from_env`` has already refused a
    malformed value at start-up, so a write never fails on the setting itself.
    """
    return _positive_int(env, "MEMORY_MAX_VALUE_BYTES") or DEFAULT_MAX_VALUE_BYTES


def flag(env: Mapping[str, str], name: str) -> bool:
    """A yes/no setting: ``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``.

    Unset or empty is False. Anything else is refused rather than guessed, because the
    flags guard what the server exposes.

    Raises:
        ConfigurationError: Naming the setting and its value.
    """
    raw = (env.get(name) or "").strip().lower()
    if not raw or raw in _FALSE:
        return False
    if raw in _TRUE:
        return True
    raise ConfigurationError(f"{name}={env[name]!r} is not one of true, false (or 1, 0)")


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number >= 0 (0 meaning off), ``default`` when unset."""
    value = _int(env, name)
    if value is None:
        return default
    if value < 0:
        raise ConfigurationError(f"{name}={value} must be 0 or more")
    return value


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    """A whole number >= 1, None when unset."""
    value = _int(env, name)
    if value is not None and value < 1:
        raise ConfigurationError(f"{name}={value} must be 1 or more")
    return value


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if not raw or not raw.strip():
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A finite number > 0, ``default`` when unset."""
    raw = env.get(name)
    if not raw or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be a finite number above 0")
    return value
