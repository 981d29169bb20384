"""The server app with two fixes for ``langgraph-runtime-pg`` 0.11.1: import it, not the stock one.

The runtime writes a run's arguments to PostgreSQL through SQLAlchemy, whose JSON encoder
is the standard library's. With an auth handler configured, those arguments carry the
authenticated user as ``langgraph_api``'s ``ProxyUser``, which that encoder refuses, so
every run fails with 500 before it starts. Importing this module makes the runtime's
database engine encode JSON with ``langgraph_api``'s own serialiser (the licensed runtime's),
which writes the user as a plain object that the worker turns back into a user; ``app`` is
then the stock ``langgraph_api.server:app``.

With a custom app mounted (``http.app``: the memory inspector), ``langgraph_api`` wraps it in
``EnsureStoreAccessible``, which asks for the store on every ASGI call -- the start-up
(``lifespan``) call included. The in-memory runtime has a store before start-up; this runtime
opens its pool only during start-up, so the middleware's question fails it and the server
never starts. The fix lets the ``lifespan`` call through untouched; requests still get the
store as before. The launcher has uvicorn import
``casts.memory.serve.compat:app`` instead of the stock path, so every server process (each
``--workers`` process imports the app itself) has the fix before it opens its engine.
"""

from __future__ import annotations

from typing import Any

import langgraph_runtime_pg.database as runtime_database
from langgraph_api.middleware import ensure_store
from langgraph_api.serde import json_dumpb


def _to_json(value: Any) -> str:
    return json_dumpb(value).decode()


def _with_api_json(create: Any) -> Any:
    def create_async_engine(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("json_serializer", _to_json)
        return create(*args, **kwargs)

    return create_async_engine


runtime_database.create_async_engine = _with_api_json(runtime_database.create_async_engine)

_ensure_store_call = ensure_store.EnsureStoreAccessible.__call__


async def _store_for_requests_only(self: Any, scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # start-up opens the store: nothing to ensure yet
        await self.app(scope, receive, send)
        return
    await _ensure_store_call(self, scope, receive, send)


ensure_store.EnsureStoreAccessible.__call__ = _store_for_requests_only

from langgraph_api.server import app  # noqa: E402  (after the fix: the app opens the engine)

__all__ = ["app"]
