"""``python -m casts.memory.serve``: the production server on the project's persistence.

The same rules as ``make dev``: ``POSTGRES_URI`` when set, else the embedded PostgreSQL in
``MEMORY_DATA_DIR``; the broker is ``REDIS_URI`` when set, else an embedded Valkey. Auth is
checked before anything starts, under the server's own fail-closed rules
(``casts.memory.auth.tokens.server_tokens``), so a bad token table or an open network
without tokens stops here with the reason. Then ``langhost serve`` runs in this process
(its ``--workers`` processes are its children) until it is stopped.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from dotenv import load_dotenv
from psycopg.conninfo import conninfo_to_dict

from casts.memory.auth.tokens import server_tokens
from casts.memory.core.errors import ConfigurationError, StoreUnavailableError
from casts.memory.serve.broker import broker
from casts.memory.serve.schema import migrate
from casts.memory.settings import PROJECT_ROOT, Settings
from casts.memory.store.embedded import start_embedded_postgres, stop_embedded_postgres

STOCK_APP = "langgraph_api.server:app"
FIXED_APP = "casts.memory.serve.compat:app"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: where to listen, how many processes, which ``langgraph.json``."""
    parser = argparse.ArgumentParser(
        prog="python -m casts.memory.serve", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2025)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--jobs", type=int, default=10, help="runs at once per process")
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "langgraph.json")
    return parser.parse_args(argv)


def load_config_env(config: Path) -> None:
    """Load the ``.env`` that ``langgraph.json`` names, as ``langgraph dev`` does.

    Its values override the process environment, as they do under ``langgraph dev``, so
    both servers read the same settings.
    """
    env = json.loads(config.read_text()).get("env")
    if isinstance(env, str):
        load_dotenv(config.parent / env, override=True)


def serve_config(config: Path, directory: Path) -> Path:
    """``config`` for ``langhost``, written into ``directory``.

    The same graphs, store, checkpointer and auth, with graph and ``.env`` paths made
    absolute (they are relative to the config's folder).
    """
    data = json.loads(config.read_text())
    base = config.resolve().parent
    data["graphs"] = {name: _absolute(spec, base) for name, spec in data["graphs"].items()}
    if isinstance(data.get("env"), str):
        data["env"] = str(base / data["env"])
    path = directory / "langgraph.json"
    path.write_text(json.dumps(data))
    return path


def _absolute(spec: str, base: Path) -> str:
    path, _, name = spec.partition(":")
    return f"{base / path}:{name}" if path.endswith(".py") else spec


def as_url(uri: str) -> str:
    """``uri`` as a ``postgresql://`` URL: the runtime reads no ``key=value`` conninfo."""
    if "://" in uri:
        return uri
    info = {key: str(value) for key, value in conninfo_to_dict(uri).items()}
    user = quote(info.pop("user", ""), safe="")
    password = info.pop("password", None)
    login = f"{user}:{quote(password, safe='')}@" if password is not None else f"{user}@"
    host, port = info.pop("host", "localhost"), info.pop("port", "5432")
    database = quote(info.pop("dbname", ""), safe="")
    query = f"?{urlencode(info)}" if info else ""
    return f"postgresql://{login if user or password else ''}{host}:{port}/{database}{query}"


@contextmanager
def fixed_app() -> Iterator[None]:
    """Have uvicorn serve ``casts.memory.serve.compat:app`` instead of the stock app.

    Why the fix is needed: see ``casts.memory.serve.compat``. uvicorn takes the app as an
    import path, which each worker process imports itself, so the fix reaches every
    process; nothing else of ``langhost`` or uvicorn changes.
    """
    import uvicorn

    run = uvicorn.run

    @functools.wraps(run)  # langhost keeps only the options uvicorn.run's signature names
    def run_fixed_app(app: Any, *args: Any, **kwargs: Any) -> None:
        run(FIXED_APP if app == STOCK_APP else app, *args, **kwargs)

    uvicorn.run = run_fixed_app
    try:
        yield
    finally:
        uvicorn.run = run


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The PostgreSQL URI for the block: ``POSTGRES_URI``, else the embedded server.

    Raises:
        ConfigurationError: ``MEMORY_BACKEND=memory``: the server keeps its runs in PostgreSQL.
    """
    if settings.backend == "memory":
        raise ConfigurationError(
            "MEMORY_BACKEND=memory: the production server keeps threads and runs in "
            "PostgreSQL; unset MEMORY_BACKEND or set POSTGRES_URI."
        )
    if settings.backend == "postgres" and settings.postgres_uri:
        yield as_url(settings.postgres_uri)
        return
    uri = start_embedded_postgres(settings.data_dir)
    try:
        yield uri
    finally:
        stop_embedded_postgres(settings.data_dir)


def serve(args: argparse.Namespace) -> None:
    """Check auth, start what is missing, migrate, then run ``langhost serve``.

    Raises:
        ConfigurationError: A setting is malformed, or auth would be open (see module).
        StoreUnavailableError: PostgreSQL or the broker cannot be had.
    """
    from langhost.cli import cli  # only in the server's venv

    load_config_env(args.config)
    settings = Settings.from_env()
    server_tokens(settings.model_copy(update={"server_url": f"http://{args.host}:{args.port}"}))
    with (
        database(settings) as database_uri,
        broker(settings) as redis_uri,
        tempfile.TemporaryDirectory(prefix="memory-casts-serve-") as directory,
        fixed_app(),
    ):
        migrate(database_uri, settings.connect_timeout_s)
        config = serve_config(args.config, Path(directory))
        cli.main(
            args=[
                "serve",
                *("--host", args.host, "--port", str(args.port), "--config", str(config)),
                *("--workers", str(args.workers), "--n-jobs-per-worker", str(args.jobs)),
                *("--database-uri", database_uri, "--redis-uri", redis_uri),
            ],
            prog_name="langhost",
            standalone_mode=False,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; a configuration or availability problem exits 2 with its reason."""
    try:
        serve(parse_args(argv))
    except (ConfigurationError, StoreUnavailableError) as error:
        print(f"memory-casts serve: {error}", file=sys.stderr)
        return 2
    return 0
