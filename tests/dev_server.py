"""Start and stop a real `langgraph dev` for tests, on a free port.

The server runs the project's own ``langgraph.json`` except ``env`` (a developer's ``.env``
must not redirect tests to their database); settings come from the environment given.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
LANGGRAPH = Path(sys.executable).parent / "langgraph"
START_TIMEOUT_S = 120


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_config(directory: Path, without: Collection[str] = ()) -> Path:
    """The project's langgraph.json without ``env``, written beside the project's.

    Graph paths are made absolute, so the server may run in another directory. The graphs
    named in ``without`` are left out (a project that copied a cast but not another).
    """
    config = json.loads((PROJECT / "langgraph.json").read_text())
    config["env"] = {}
    config["graphs"] = {
        name: str(PROJECT / spec) for name, spec in config["graphs"].items() if name not in without
    }
    path = PROJECT / f".langgraph.test-{directory.name}.json"
    path.write_text(json.dumps(config))
    return path


@contextlib.contextmanager
def running_dev_server(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    jobs_per_worker: int = 1,
    without: Collection[str] = (),
) -> Iterator[str]:
    """Run `langgraph dev` on the project until the block ends; yields its base URL.

    ``jobs_per_worker`` runs at once (`langgraph dev` defaults to one at a time). The server
    runs in ``log_dir``, where it keeps its threads and runs (``.langgraph_api/``), so no
    server inherits the runs another test's server left queued; its log is
    ``log_dir/langgraph-dev-<port>.log``. ``without``: graphs not to serve.

    Raises:
        RuntimeError: The server did not answer /ok in time (its log is in the message).
    """
    config = test_config(log_dir, without)
    try:
        with serving(
            config, env, cwd=log_dir, log_dir=log_dir, jobs_per_worker=jobs_per_worker
        ) as url:
            yield url
    finally:
        config.unlink(missing_ok=True)


def start_dev_server(
    config: Path,
    env: Mapping[str, str],
    *,
    cwd: Path,
    log_path: Path,
    port: int,
    host: str = "127.0.0.1",
    jobs_per_worker: int = 1,
) -> subprocess.Popen:
    """Start `langgraph dev` in a session of its own, its output in ``log_path``."""
    full_env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        # Memory-agent turns schedule no memory manager unless a test turns it on: its
        # delayed runs would call the test's scripted model.
        "MEMORY_FORMATION": "off",
        **env,
    }
    with log_path.open("w") as log:
        return subprocess.Popen(
            [
                *(str(LANGGRAPH), "dev", "--host", host, "--port", str(port)),
                *("--no-browser", "--no-reload", "--config", str(config)),
                *("--n-jobs-per-worker", str(jobs_per_worker)),
            ],
            cwd=cwd,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def serving(
    config: Path,
    env: Mapping[str, str],
    *,
    cwd: Path,
    log_dir: Path,
    jobs_per_worker: int = 1,
) -> Iterator[str]:
    """Run `langgraph dev` with ``config`` from ``cwd`` until the block ends; yields its URL.

    Raises:
        RuntimeError: The server did not answer /ok in time (its log is in the message).
    """
    port = free_port()
    log_path = log_dir / f"langgraph-dev-{port}.log"
    process = start_dev_server(
        config, env, cwd=cwd, log_path=log_path, port=port, jobs_per_worker=jobs_per_worker
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log_path)
        yield url
    finally:
        _stop(process)


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/ok", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    _stop(process)
    raise RuntimeError(f"langgraph dev did not start:\n{log_path.read_text()[-5000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
