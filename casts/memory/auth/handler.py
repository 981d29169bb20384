"""The server's auth handler (named by `langgraph.json` through `casts.memory.server`).

With tokens configured (``casts.memory.auth.tokens``: ``MEMORY_AUTH_TOKENS`` or
``MEMORY_AUTH_FILE``):

- every request needs ``Authorization: Bearer <token>`` of a known token, else 401;
- threads are owned by their creator (``metadata.owner``) and invisible to anyone else;
- assistants are owned by their creator (``metadata.owner``): a user sees, runs, changes
  and deletes only their own, and runs and sees the served graphs' default assistants
  (``metadata.created_by == "system"``, which no client may set);
- a run or assistant whose ``context`` / ``configurable`` names another ``user_id`` than the
  caller's is refused with 403 before anything runs (the run then acts as the caller: the
  casts read the user and the token's teams from ``runtime.server_info.user``, see
  ``casts.memory.core.identity``);
- the HTTP store API follows ``casts.memory.auth.policy`` (team membership by
  ``casts.memory.kinds.workspace.team_role``, the rule the casts apply; workspace entries
  stamped with the caller as ``updated_by``);
- everything else (crons, resources this module does not know) is refused: a new kind of
  request is closed until someone decides who may use it.

The memory inspector's routes (``casts.memory.inspector.app``) pass this handler too; only
its static page is fetched without a token (``authenticate``).

Without tokens every request is let through as an unauthenticated caller, exactly as the dev
server behaves without auth (it then listens on 127.0.0.1 only). Studio's own auth bypass
(``x-auth-scheme: langsmith``) is switched off in ``langgraph.json``
(``disable_studio_auth``), so a header cannot replace a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth

from casts.memory.auth import policy as auth_policy
from casts.memory.auth.tokens import Principal, TokenTable, server_tokens
from casts.memory.core.errors import AccessDeniedError, InvalidValueError
from casts.memory.core.identity import OWNER_KEY
from casts.memory.inspector import PAGE_PATH

SYSTEM_KEY, SYSTEM = "created_by", "system"  # how langgraph_api marks the graphs' defaults
ANONYMOUS: dict[str, Any] = {
    "identity": "",
    "display_name": "anonymous",
    "is_authenticated": False,
    "permissions": [],
}

auth = Auth()
tokens: TokenTable = server_tokens()  # at import: a bad setting stops the server at start-up


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(
        status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _forbidden(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=403, detail=detail)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header.

    Raises:
        Auth.exceptions.HTTPException: 401 when the header is missing or not a bearer token.
    """
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'.")
    return token.strip()


@auth.authenticate
async def authenticate(authorization: str | None, method: str, path: str) -> dict[str, Any]:
    """Map the bearer token to its user and teams (or let everyone in when auth is off).

    The memory inspector's page (``casts.memory.inspector.PAGE_PATH``) is fetched without a
    token, as a browser opens a link: it is a static file holding no data, and it sends the
    token the person types with each API call, which this handler then checks.
    """
    if not tokens.enabled or (method == "GET" and path == PAGE_PATH and not authorization):
        return dict(ANONYMOUS)
    principal = tokens.lookup(bearer_token(authorization))
    if principal is None:
        raise _unauthorized("Unknown token.")
    return {
        "identity": principal.user_id,
        "display_name": principal.user_id,
        "is_authenticated": True,
        "permissions": [],
        "teams": sorted(principal.teams),
    }


def _principal(ctx: Auth.types.AuthContext) -> Principal | None:
    """The caller, or None when auth is off (then every handler allows)."""
    if not tokens.enabled:
        return None
    user = ctx.user
    if not getattr(user, "is_authenticated", False) or not getattr(user, "identity", ""):
        raise _forbidden("Only callers with a token may use this server.")
    teams = user.get("teams") if hasattr(user, "get") else None
    return Principal(user_id=str(user.identity), teams=frozenset(teams or ()))


def _own(value: Mapping[str, Any], principal: Principal) -> None:
    """Stamp the caller as owner of what is created (overriding any client-sent owner)."""
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        metadata[OWNER_KEY] = principal.user_id
    elif isinstance(value, dict):
        value["metadata"] = {OWNER_KEY: principal.user_id}


def _check_metadata(value: Mapping[str, Any]) -> None:
    """Refuse client metadata that would pass an assistant off as a server default."""
    metadata = value.get("metadata")
    if isinstance(metadata, Mapping) and SYSTEM_KEY in metadata:
        raise _forbidden(
            f"metadata.{SYSTEM_KEY} is reserved: the server marks its graphs' default "
            "assistants with it."
        )


def _check_claim(principal: Principal, payload: Mapping[str, Any] | None) -> None:
    try:
        auth_policy.check_claim(principal, payload)
    except AccessDeniedError as error:
        raise _forbidden(str(error)) from error


# --- default: closed -------------------------------------------------------------------


@auth.on
async def deny_unlisted(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Refuse what no handler below allows (crons, new resources) while auth is on."""
    if _principal(ctx) is not None:
        raise _forbidden(f"{ctx.resource}.{ctx.action} is not available with auth enabled.")


# --- threads and runs (runs are the ``threads`` resource) ------------------------------


@auth.on.threads.create
async def create_thread(
    ctx: Auth.types.AuthContext, value: Auth.types.on.threads.create.value
) -> Auth.types.FilterType | None:
    """The creator owns the thread; re-creating someone else's thread id is refused."""
    principal = _principal(ctx)
    if principal is None:
        return None
    _own(value, principal)
    return {OWNER_KEY: principal.user_id}


@auth.on.threads.create_run
async def create_run(
    ctx: Auth.types.AuthContext, value: Auth.types.on.threads.create_run.value
) -> Auth.types.FilterType | None:
    """A run acts as the caller, on the caller's threads only."""
    principal = _principal(ctx)
    if principal is None:
        return None
    _check_claim(principal, value.get("kwargs"))
    _own(value, principal)  # a thread the run creates belongs to the caller
    return {OWNER_KEY: principal.user_id}


@auth.on.threads.read
@auth.on.threads.delete
@auth.on.threads.search
async def own_threads(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """Only the owner sees, searches or deletes a thread (and its runs)."""
    principal = _principal(ctx)
    return None if principal is None else {OWNER_KEY: principal.user_id}


@auth.on.threads.update
async def update_thread(
    ctx: Auth.types.AuthContext, value: Auth.types.on.threads.update.value
) -> Auth.types.FilterType | None:
    """Only the owner updates a thread, and cannot hand it to someone else."""
    principal = _principal(ctx)
    if principal is None:
        return None
    if isinstance(value.get("metadata"), dict):
        value["metadata"][OWNER_KEY] = principal.user_id
    return {OWNER_KEY: principal.user_id}


# --- assistants ------------------------------------------------------------------------


@auth.on.assistants.read
@auth.on.assistants.search
async def read_assistants(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """A caller sees (and so runs) their own assistants and the graphs' default ones.

    The server asks this handler before a run on any assistant but a default one, so the
    filter also decides who may run an assistant.
    """
    principal = _principal(ctx)
    if principal is None:
        return None
    return {"$or": [{OWNER_KEY: principal.user_id}, {SYSTEM_KEY: SYSTEM}]}


@auth.on.assistants.create
async def create_assistant(
    ctx: Auth.types.AuthContext, value: Auth.types.on.assistants.create.value
) -> Auth.types.FilterType | None:
    """An assistant may not carry another user's id; its creator owns it."""
    principal = _principal(ctx)
    if principal is None:
        return None
    _check_claim(principal, value)
    _check_metadata(value)
    _own(value, principal)
    return {OWNER_KEY: principal.user_id}


@auth.on.assistants.update
async def update_assistant(
    ctx: Auth.types.AuthContext, value: Auth.types.on.assistants.update.value
) -> Auth.types.FilterType | None:
    """Only the creator changes an assistant; the served graphs' own ones have no owner."""
    principal = _principal(ctx)
    if principal is None:
        return None
    _check_claim(principal, value)
    _check_metadata(value)
    if isinstance(value.get("metadata"), dict):
        value["metadata"][OWNER_KEY] = principal.user_id
    return {OWNER_KEY: principal.user_id}


@auth.on.assistants.delete
async def delete_assistant(
    ctx: Auth.types.AuthContext, value: Auth.types.on.assistants.delete.value
) -> Auth.types.FilterType | None:
    """Only the creator deletes an assistant."""
    principal = _principal(ctx)
    return None if principal is None else {OWNER_KEY: principal.user_id}


# --- the HTTP store API ----------------------------------------------------------------


@auth.on.store.put
@auth.on.store.get
@auth.on.store.delete
async def store_item(ctx: Auth.types.AuthContext, value: Any) -> None:
    """One item: allowed in the caller's own, team and (read-only) global namespaces.

    A put of a team workspace entry is stored with the caller as its writer.
    """
    principal = _principal(ctx)
    if principal is None:
        return
    try:
        auth_policy.authorize_item(principal, value.get("namespace"), ctx.action)
        if ctx.action == "put":
            value["value"] = auth_policy.stamp_provenance(
                principal, value.get("namespace"), value.get("value")
            )
    except AccessDeniedError as error:
        raise _forbidden(str(error)) from error
    except InvalidValueError as error:
        raise Auth.exceptions.HTTPException(status_code=422, detail=str(error)) from error


@auth.on.store.search
@auth.on.store.list_namespaces
async def store_prefix(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Search and listing: the prefix narrowed to what the caller may see."""
    principal = _principal(ctx)
    if principal is None:
        return
    try:
        value["namespace"] = auth_policy.narrow_prefix(
            principal, value.get("namespace"), ctx.action
        )
    except AccessDeniedError as error:
        raise _forbidden(str(error)) from error
