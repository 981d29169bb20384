"""Settings read from the environment, in one place (see ``.env.example``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from casts.memory.errors import ConfigurationError

Backend = Literal["postgres", "embedded", "memory"]
PROJECT_ROOT = Path(__file__).resolve().parents[2]


DEFAULT_RECALL_CACHE_ITEMS = 50_000


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings, choosing the backend.

        ``MEMORY_BACKEND`` selects explicitly (``postgres``, ``embedded``, ``memory``); when it
        is unset or ``auto``, ``POSTGRES_URI`` set means PostgreSQL, else the embedded server.

        Raises:
            ConfigurationError: For an unknown backend, a postgres backend without a URI, or a
                malformed number.
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
            embedding_dims=_int(env, "MEMORY_EMBEDDING_DIMS"),
            pool_min_size=_int(env, "MEMORY_POOL_MIN_SIZE") or 1,
            pool_max_size=_int(env, "MEMORY_POOL_MAX_SIZE") or 10,
            ttl_sweep_minutes=_float(env, "MEMORY_TTL_SWEEP_MINUTES", 5.0),
            connect_timeout_s=_float(env, "MEMORY_CONNECT_TIMEOUT", 20.0),
            recall_cache_items=_count(env, "MEMORY_RECALL_CACHE_ITEMS", DEFAULT_RECALL_CACHE_ITEMS),
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number >= 0 (0 meaning off), ``default`` when unset."""
    value = _int(env, name)
    if value is None:
        return default
    if value < 0:
        raise ConfigurationError(f"{name}={value} must be 0 or more")
    return value


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
