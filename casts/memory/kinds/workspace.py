"""Team workspace: context shared by the members of a team, across threads and users.

Who belongs to a team is decided by one rule, ``team_role``, used by these functions (so
by the ``team_workspace`` cast and its tools), by the memory agent's prompt loading and by
the server's HTTP store API (``casts.memory.auth.policy``):

- With auth on, the authenticated user's token teams are the only source of who may act
  in a team. A team the token does not list is refused, whatever the store holds; a team
  it lists admits the user. The store's roster (``namespaces.team_members(team_id)``, one
  item per member, keyed by user id) only gives roles within that: who is ``owner``.
- Without auth there is no identity to check: every caller says who they are, and the
  roster decides. That keeps well-meaning callers apart, not attackers (the server then
  listens on 127.0.0.1 only).

Then:

- creating a team makes its creator owner when the team has no roster yet; creation is
  serialised per team (an advisory lock on PostgreSQL, across processes; a lock per store
  in the process on InMemoryStore), so two creators at once give exactly one owner;
- owners add members (or promote them to owner) and remove members; nobody removes
  themselves, so a roster always keeps at least one owner;
- only members read or write the workspace (``namespaces.team_workspace(team_id)``); a
  non-member gets ``AccessDeniedError``, never an empty result that looks like "nothing
  there". Every write records who wrote it and when (``WorkspaceEntry``), from the acting
  identity, never from the request.

Membership is checked just before each operation; a member removed concurrently may
complete one write already under way.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from langgraph.store.base import BaseStore, GetOp, PutOp
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection, OperationalError
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from casts.memory.core import namespaces
from casts.memory.core.errors import AccessDeniedError, InvalidValueError, StoreUnavailableError
from casts.memory.core.records import TeamMember, WorkspaceEntry, parse_record
from casts.memory.core.values import check_entries, deletion_ops, validate_key
from casts.memory.store.postgres import advisory_lock
from casts.memory.store.reading import asearch_all

Role = Literal["owner", "member"]
ROLES: tuple[Role, ...] = ("owner", "member")


@dataclass
class Workspace:
    """What a member sees: every entry (with who wrote it and when) and every member."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)


def team_role(
    team_id: str, record: TeamMember | None, token_teams: Collection[str] | None
) -> Role | None:
    """The one rule for who belongs to a team: the user's role in it, or None.

    Args:
        team_id: The team.
        record: The user's item in the team's roster, if the store holds one.
        token_teams: The teams of the authenticated user's token; None without auth.

    Returns:
        ``owner`` or ``member``, or None when the user may not act in the team. With a
        token, the token decides and the roster only gives the role (``member`` when the
        roster does not list the user); without one, the roster decides.
    """
    if token_teams is not None:
        if team_id not in token_teams:
            return None
        return "member" if record is None else record.role
    return None if record is None else record.role


async def get_member(store: BaseStore, team_id: str, user_id: str) -> TeamMember | None:
    """The user's item in the team's roster, or None."""
    item = await store.aget(namespaces.team_members(team_id), validate_key(user_id))
    return None if item is None else TeamMember.model_validate(item.value)


async def require_member(
    store: BaseStore,
    team_id: str,
    user_id: str,
    *,
    token_teams: Collection[str] | None = None,
    owner: bool = False,
) -> Role:
    """The user's role in the team (``team_role``), or a refusal that says why.

    Args:
        store: The project's store.
        team_id: The team.
        user_id: The acting user.
        token_teams: The teams of the acting user's token; None without auth.
        owner: Whether the operation needs the owner role.

    Raises:
        AccessDeniedError: The user is not a member (or not an owner when ``owner``).
    """
    role = team_role(team_id, await get_member(store, team_id, user_id), token_teams)
    if role is None:
        how = (
            "their token does not list it"
            if token_teams is not None
            else "a team owner must add them first (or, for a new team, create it)"
        )
        raise AccessDeniedError(f"User {user_id!r} is not a member of team {team_id!r}; {how}.")
    if owner and role != "owner":
        raise AccessDeniedError(
            f"User {user_id!r} is a member, not an owner, of team {team_id!r}; only owners "
            "manage membership."
        )
    return role


_local_locks: weakref.WeakKeyDictionary[BaseStore, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock_key(team_id: str) -> int:
    """A 64-bit advisory lock key for the team (a collision only serialises two teams)."""
    digest = hashlib.sha256(f"memory_casts.team:{team_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _connect(store: AsyncPostgresStore) -> AsyncConnection[Any]:
    """A connection of its own to the store's database.

    Not one of the pool's: creators waiting for the lock would hold every pooled
    connection, and the lock holder needs one for its own reads and writes.

    Raises:
        StoreUnavailableError: The database does not answer; nothing was written.
    """
    if isinstance(store.conn, AsyncConnectionPool):
        conninfo, timeout = store.conn.conninfo, store.conn.timeout
    else:
        conninfo, timeout = store.conn.info.dsn, None
        conninfo = make_conninfo(conninfo, password=store.conn.info.password)
    try:
        return await AsyncConnection.connect(
            conninfo, autocommit=True, connect_timeout=max(1, int(timeout or 10))
        )
    except OperationalError as error:
        raise StoreUnavailableError(
            f"PostgreSQL is unavailable ({error}): the team was not created. Retry once it is back."
        ) from error


@asynccontextmanager
async def creating(store: BaseStore, team_id: str) -> AsyncIterator[None]:
    """Hold the team's creation lock, so "no roster yet" stays true until the owner is in.

    PostgreSQL: a session advisory lock, across every process on the database.
    InMemoryStore lives in one process: a lock per store there.
    """
    inner = getattr(store, "inner", store)
    if isinstance(inner, AsyncPostgresStore):
        async with await _connect(inner) as conn, advisory_lock(conn, _lock_key(team_id)):
            yield
        return
    lock = _local_locks.setdefault(inner, asyncio.Lock())
    async with lock:
        yield


async def create_team(
    store: BaseStore,
    team_id: str,
    user_id: str,
    *,
    token_teams: Collection[str] | None = None,
) -> bool:
    """Create a team with ``user_id`` as its first owner.

    With auth on, only a team the user's token lists can be created. Creating a team one
    already belongs to changes nothing.

    Returns:
        Whether the team was created (False: it existed and the user belongs to it).

    Raises:
        AccessDeniedError: The token does not list the team, or the team exists and the
            user does not belong to it.
        StoreUnavailableError: PostgreSQL does not answer; nothing was written.
    """
    members_ns = namespaces.team_members(team_id)
    validate_key(user_id, field="user_id")
    if token_teams is not None and team_role(team_id, None, token_teams) is None:
        raise AccessDeniedError(
            f"User {user_id!r} is not a member of team {team_id!r}; their token does not "
            "list it, so they cannot create it."
        )
    async with creating(store, team_id):
        if await store.asearch(members_ns, limit=1):
            if team_role(team_id, await get_member(store, team_id, user_id), token_teams):
                return False
            raise AccessDeniedError(
                f"Team {team_id!r} already exists and {user_id!r} is not a member; ask one "
                "of its owners to add them."
            )
        owner = TeamMember(role="owner", added_by=user_id)
        await store.abatch([PutOp(members_ns, user_id, owner.to_value(), index=False)])
        return True


def _check_role(role: Any) -> Role:
    if role not in ROLES:
        raise InvalidValueError("role", f"must be one of {', '.join(ROLES)}; got {role!r}")
    return role


async def add_member(
    store: BaseStore,
    team_id: str,
    actor_id: str,
    user_id: str,
    role: Role = "member",
    *,
    token_teams: Collection[str] | None = None,
) -> TeamMember:
    """Add a user to the team, or change an existing member's role (owners only).

    With auth on, the roster gives roles only: a user added whose token does not list the
    team still cannot act in it.

    Raises:
        InvalidValueError: A bad ``member_id`` or ``role``.
        AccessDeniedError: The actor is not an owner of the team.
    """
    validate_key(user_id, field="member_id")
    role = _check_role(role)
    await require_member(store, team_id, actor_id, token_teams=token_teams, owner=True)
    if user_id == actor_id and role != "owner":
        raise InvalidValueError("role", "an owner cannot demote themselves; ask another owner")
    existing = await get_member(store, team_id, user_id)
    member = (
        TeamMember(role=role, added_by=actor_id)
        if existing is None
        else existing.model_copy(update={"role": role})
    )
    await store.abatch(
        [PutOp(namespaces.team_members(team_id), user_id, member.to_value(), index=False)]
    )
    return member


async def remove_member(
    store: BaseStore,
    team_id: str,
    actor_id: str,
    user_id: str,
    *,
    token_teams: Collection[str] | None = None,
) -> bool:
    """Remove a user from the team's roster (owners only, and never themselves).

    With auth on this takes away the user's role, not their access: that is their
    token's (see ``team_role``).

    Returns:
        Whether the user was a member.

    Raises:
        InvalidValueError: The owner named themselves (a team keeps at least one owner).
        AccessDeniedError: The actor is not an owner of the team.
    """
    validate_key(user_id, field="member_id")
    await require_member(store, team_id, actor_id, token_teams=token_teams, owner=True)
    if user_id == actor_id:
        raise InvalidValueError(
            "member_id", "an owner cannot remove themselves; another owner must do it"
        )
    existing = await get_member(store, team_id, user_id)
    if existing is None:
        return False
    await store.abatch([PutOp(namespaces.team_members(team_id), user_id, None)])
    return True


def plan_workspace_write(
    team_id: str,
    actor_id: str,
    entries: Mapping[str, Any] | None = None,
    remove: Sequence[str] | None = None,
) -> list[PutOp]:
    """Validate every entry and removal before anything is written.

    Raises:
        InvalidValueError: Naming the entry (``entries.status.value``, ``remove[0]``).
    """
    namespace = namespaces.team_workspace(team_id)
    ops: list[PutOp] = []
    for key, value in check_entries(entries).items():
        where = f"entries.{key}"
        validate_key(key, field=where)
        record = parse_record(WorkspaceEntry, {"value": value, "updated_by": actor_id}, field=where)
        ops.append(PutOp(namespace, key, record.to_value(), index=False))
    return [*ops, *deletion_ops(namespace, remove)]


async def write_workspace(
    store: BaseStore,
    team_id: str,
    actor_id: str,
    entries: Mapping[str, Any] | None = None,
    remove: Sequence[str] | None = None,
    *,
    token_teams: Collection[str] | None = None,
) -> list[str]:
    """Set and remove workspace entries as ``actor_id``, all in one batch (members only).

    Returns:
        The keys written or removed.

    Raises:
        InvalidValueError: A bad entry; nothing is written.
        AccessDeniedError: The actor is not a member; nothing is written.
    """
    ops = plan_workspace_write(team_id, actor_id, entries, remove)
    await require_member(store, team_id, actor_id, token_teams=token_teams)
    if ops:
        await store.abatch(ops)
    return [op.key for op in ops]


async def read_workspace(
    store: BaseStore, team_id: str, actor_id: str, *, token_teams: Collection[str] | None = None
) -> Workspace:
    """Every workspace entry and every member (all pages), for a member of the team.

    Raises:
        AccessDeniedError: The actor is not a member.
    """
    await require_member(store, team_id, actor_id, token_teams=token_teams)
    entries, members = await asearch_all(
        store, namespaces.team_workspace(team_id), namespaces.team_members(team_id)
    )
    return Workspace(
        entries={item.key: item.value for item in entries},
        members={item.key: item.value for item in members},
    )


async def get_entry(
    store: BaseStore,
    team_id: str,
    actor_id: str,
    key: str,
    *,
    token_teams: Collection[str] | None = None,
) -> dict[str, Any] | None:
    """One workspace entry (value, updated_by, updated_at), for a member; None if unset.

    Raises:
        AccessDeniedError: The actor is not a member.
    """
    validate_key(key)
    await require_member(store, team_id, actor_id, token_teams=token_teams)
    (item,) = await store.abatch([GetOp(namespaces.team_workspace(team_id), key)])
    return None if item is None else item.value
