"""The inspector's routes: the page at ``/memory`` and the JSON API it calls.

``langgraph.json`` mounts this app as the server's ``http.app`` with
``enable_custom_route_auth``, so every request passes the project's auth handler
(``casts.memory.auth.handler``) first, and the authenticated user is ``request.user``:

- auth off (no ``MEMORY_AUTH_TOKENS``): any user may be picked, as the dev server lets
  every client act as any user;
- auth on: only the caller's own memory (and their token's teams' workspaces) -- another
  user's id in a route is refused with 403 before the store is read. The page itself is
  a static file without data; the auth handler lets its ``GET`` through without a token,
  and the page sends the token the person types on every API call.

Refusals are JSON ``{"detail": ..., "field": ...}``: 422 for a bad field (nothing was
written), 404 for a missing memory, 401/403 for who may not, 503 for a store that is down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

from langgraph.store.base import BaseStore
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from casts.memory.auth.handler import tokens
from casts.memory.core.errors import (
    AccessDeniedError,
    InvalidNamespaceError,
    InvalidValueError,
    MemoryNotFoundError,
    StoreUnavailableError,
)
from casts.memory.inspector import API_PATH, PAGE_PATH, views

PAGE = Path(__file__).with_name("page.html")


class Refused(Exception):
    """A request the inspector answers with ``status`` and ``detail``, touching nothing."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Viewer(NamedTuple):
    """Who is looking: the authenticated user and their token's teams, or nobody (auth off).

    A NamedTuple, not a dataclass: the server loads this file by its path, as a module that
    is not in ``sys.modules``, where dataclasses cannot resolve their annotations.
    """

    user_id: str | None
    teams: frozenset[str] | None

    @property
    def authenticated(self) -> bool:
        """Whether auth is on for this request (then only ``user_id`` may be inspected)."""
        return self.user_id is not None


def viewer(request: Request) -> Viewer:
    """The caller, as the project's auth handler authenticated them.

    Raises:
        Refused: 401 when auth is on and the request carries no known token (also when the
            server was started without custom-route auth: closed, never open).
    """
    if not tokens.enabled:
        return Viewer(None, None)
    user = request.scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False) or not user.identity:
        raise Refused(401, "Sign in: send 'Authorization: Bearer <token>'.")
    return Viewer(str(user.identity), frozenset(user.get("teams") or ()))


def subject(request: Request) -> tuple[Viewer, str]:
    """The viewer and the user the route names, once the viewer may inspect that user.

    Raises:
        Refused: 403 when auth is on and the route names another user.
    """
    seen = viewer(request)
    user_id = request.path_params["user_id"]
    if seen.authenticated and user_id != seen.user_id:
        raise Refused(403, f"{seen.user_id!r} may only inspect their own memory.")
    return seen, user_id


async def _store() -> BaseStore:
    """The server's store: the one the graphs use (``langgraph.json`` -> ``store``)."""
    from langgraph_api.store import get_store  # the running server's; imported on use

    try:
        return await get_store()
    except StoreUnavailableError:
        raise
    except Exception as error:  # the backend could not start: unavailable, not a bug here
        raise StoreUnavailableError(f"The store is unavailable: {error}") from error


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidValueError("body", "must be a JSON object") from None


Handler = Callable[[Request], Awaitable[Any]]


def answered(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The handler's result as JSON, and each refusal as its status naming the reason."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except Refused as refused:
            headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
            return JSONResponse({"detail": refused.detail}, refused.status, headers=headers)
        except InvalidValueError as error:
            return JSONResponse({"detail": str(error), "field": error.field}, 422)
        except InvalidNamespaceError as error:
            return JSONResponse({"detail": str(error), "field": "user_id"}, 422)
        except MemoryNotFoundError as error:
            return JSONResponse({"detail": str(error)}, 404)
        except AccessDeniedError as error:
            return JSONResponse({"detail": str(error)}, 403)
        except StoreUnavailableError as error:
            return JSONResponse({"detail": str(error)}, 503)

    return endpoint


async def page(request: Request) -> Response:
    """The page: one static file; all data comes from the API with the caller's token."""
    return FileResponse(PAGE, media_type="text/html; charset=utf-8")


@answered
async def session(request: Request) -> dict[str, Any]:
    """Whether auth is on, and who the caller is (refused with 401 without a token)."""
    seen = viewer(request)
    return {
        "auth": tokens.enabled,
        "user_id": seen.user_id,
        "teams": sorted(seen.teams or ()),
    }


@answered
async def users(request: Request) -> dict[str, Any]:
    """The users one may pick: with auth only oneself; without it everyone the store knows."""
    seen = viewer(request)
    if seen.authenticated:
        return {"users": [seen.user_id]}
    return {"users": await views.known_users(await _store())}


@answered
async def overview(request: Request) -> dict[str, Any]:
    """Everything kept about the user."""
    seen, user_id = subject(request)
    return await views.overview(await _store(), user_id, seen.teams)


@answered
async def search(request: Request) -> dict[str, Any]:
    """Recall with each hit's lexical and semantic parts."""
    _, user_id = subject(request)
    params = request.query_params
    return await views.search(await _store(), user_id, params.get("q"), params.get("limit", 10))


@answered
async def edit_memory(request: Request) -> dict[str, Any]:
    """Replace one memory's content (validated as the tools validate it)."""
    _, user_id = subject(request)
    return await views.edit_memory(
        await _store(), user_id, request.path_params["key"], await _body(request)
    )


@answered
async def forget_memory(request: Request) -> dict[str, Any]:
    """Delete one memory."""
    _, user_id = subject(request)
    return await views.forget_memory(await _store(), user_id, request.path_params["key"])


@answered
async def forget_everything(request: Request) -> dict[str, Any]:
    """Forget the user entirely, their threads on this server included."""
    _, user_id = subject(request)
    body = await _body(request)
    confirm = body.get("confirm") if isinstance(body, dict) else None
    from langgraph_sdk import get_client  # in-process client of this very server

    return await views.forget_everything(await _store(), user_id, confirm, get_client())


USER = f"{API_PATH}/users/{{user_id:str}}"
routes = [
    Route(PAGE_PATH, page, methods=["GET"]),
    Route(f"{API_PATH}/session", session, methods=["GET"]),
    Route(f"{API_PATH}/users", users, methods=["GET"]),
    Route(USER, overview, methods=["GET"]),
    Route(f"{USER}/search", search, methods=["GET"]),
    Route(f"{USER}/memories/{{key:str}}", edit_memory, methods=["PUT"]),
    Route(f"{USER}/memories/{{key:str}}", forget_memory, methods=["DELETE"]),
    Route(f"{USER}/forget", forget_everything, methods=["POST"]),
]
app = Starlette(routes=routes)
