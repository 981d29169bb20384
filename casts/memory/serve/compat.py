"""The server app with a fix for ``langgraph-runtime-pg`` 0.11.1: import it, not the stock one.

The runtime writes a run's arguments to PostgreSQL through SQLAlchemy, whose JSON encoder
is the standard library's. With an auth handler configured, those arguments carry the
authenticated user as ``langgraph_api``'s ``ProxyUser``, which that encoder refuses, so
every run fails with 500 before it starts. Importing this module makes the runtime's
database engine encode JSON with ``langgraph_api``'s own serialiser (the licensed runtime's),
which writes the user as a plain object that the worker turns back into a user; ``app`` is
then the stock ``langgraph_api.server:app``. The launcher has uvicorn import
``casts.memory.serve.compat:app`` instead of the stock path, so every server process (each
``--workers`` process imports the app itself) has the fix before it opens its engine.
"""

from __future__ import annotations

from typing import Any

import langgraph_runtime_pg.database as runtime_database
from langgraph_api.serde import json_dumpb


def _to_json(value: Any) -> str:
    return json_dumpb(value).decode()


def _with_api_json(create: Any) -> Any:
    def create_async_engine(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("json_serializer", _to_json)
        return create(*args, **kwargs)

    return create_async_engine


runtime_database.create_async_engine = _with_api_json(runtime_database.create_async_engine)

from langgraph_api.server import app  # noqa: E402  (after the fix: the app opens the engine)

__all__ = ["app"]
