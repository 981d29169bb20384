"""Team workspace: context shared by the members of a team, across threads and users.

Membership lives in the store (``namespaces.team_members(team_id)``, one item per member,
keyed by user id), so every thread, user and process sees the same members:

- the first user to *create* a team becomes its owner;
- owners add members (or promote them to owner) and remove members; nobody removes
  themselves, so a team always keeps at least one owner;
- only members read or write the workspace (``namespaces.team_workspace(team_id)``); a
  non-member gets ``AccessDeniedError``, never an empty result that looks like "nothing
  there". Every write records who wrote it and when (``WorkspaceEntry``).

Membership is checked just before each operation; a member removed concurrently may
complete one write already under way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langgraph.store.base import BaseStore, GetOp, PutOp

from casts.memory import namespaces
from casts.memory.errors import AccessDeniedError, InvalidValueError
from casts.memory.queries import asearch_all
from casts.memory.records import TeamMember, WorkspaceEntry, parse_record
from casts.memory.values import validate_key
from casts.memory.writes import check_entries, deletion_ops

Role = Literal["owner", "member"]
ROLES: tuple[Role, ...] = ("owner", "member")


@dataclass
class Workspace:
    """What a member sees: every entry (with who wrote it and when) and every member."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)


async def get_member(store: BaseStore, team_id: str, user_id: str) -> TeamMember | None:
    """The user's membership of the team, or None."""
    item = await store.aget(namespaces.team_members(team_id), validate_key(user_id))
    return None if item is None else TeamMember.model_validate(item.value)


async def require_member(
    store: BaseStore, team_id: str, user_id: str, *, owner: bool = False
) -> TeamMember:
    """The user's membership, or a refusal that says why and what to do.

    Args:
        store: The project's store.
        team_id: The team.
        user_id: The acting user.
        owner: Whether the operation needs the owner role.

    Raises:
        AccessDeniedError: The user is not a member (or not an owner when ``owner``).
    """
    member = await get_member(store, team_id, user_id)
    if member is None:
        raise AccessDeniedError(
            f"User {user_id!r} is not a member of team {team_id!r}; a team owner must add "
            "them first (or, for a new team, create it)."
        )
    if owner and member.role != "owner":
        raise AccessDeniedError(
            f"User {user_id!r} is a member, not an owner, of team {team_id!r}; only owners "
            "manage membership."
        )
    return member


async def create_team(store: BaseStore, team_id: str, user_id: str) -> TeamMember:
    """Create a team with ``user_id`` as its first owner.

    Creating a team one already belongs to is a no-op that returns the membership.

    Raises:
        AccessDeniedError: The team already exists and the user is not a member of it.
    """
    members_ns = namespaces.team_members(team_id)
    validate_key(user_id, field="user_id")
    own = await get_member(store, team_id, user_id)
    if own is not None:
        return own
    existing = await store.asearch(members_ns, limit=1)
    if existing:
        raise AccessDeniedError(
            f"Team {team_id!r} already exists and {user_id!r} is not a member; ask one of "
            "its owners to add them."
        )
    owner = TeamMember(role="owner", added_by=user_id)
    await store.abatch([PutOp(members_ns, user_id, owner.to_value(), index=False)])
    return owner


def _check_role(role: Any) -> Role:
    if role not in ROLES:
        raise InvalidValueError("role", f"must be one of {', '.join(ROLES)}; got {role!r}")
    return role


async def add_member(
    store: BaseStore, team_id: str, actor_id: str, user_id: str, role: Role = "member"
) -> TeamMember:
    """Add a user to the team, or change an existing member's role (owners only).

    Raises:
        InvalidValueError: A bad ``member_id`` or ``role``.
        AccessDeniedError: The actor is not an owner of the team.
    """
    validate_key(user_id, field="member_id")
    role = _check_role(role)
    await require_member(store, team_id, actor_id, owner=True)
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


async def remove_member(store: BaseStore, team_id: str, actor_id: str, user_id: str) -> bool:
    """Remove a user from the team (owners only, and never themselves).

    Returns:
        Whether the user was a member.

    Raises:
        InvalidValueError: The owner named themselves (a team keeps at least one owner).
        AccessDeniedError: The actor is not an owner of the team.
    """
    validate_key(user_id, field="member_id")
    await require_member(store, team_id, actor_id, owner=True)
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
) -> list[str]:
    """Set and remove workspace entries as ``actor_id``, all in one batch (members only).

    Returns:
        The keys written or removed.

    Raises:
        InvalidValueError: A bad entry; nothing is written.
        AccessDeniedError: The actor is not a member; nothing is written.
    """
    ops = plan_workspace_write(team_id, actor_id, entries, remove)
    await require_member(store, team_id, actor_id)
    if ops:
        await store.abatch(ops)
    return [op.key for op in ops]


async def read_workspace(store: BaseStore, team_id: str, actor_id: str) -> Workspace:
    """Every workspace entry and every member (all pages), for a member of the team.

    Raises:
        AccessDeniedError: The actor is not a member.
    """
    await require_member(store, team_id, actor_id)
    entries, members = await asearch_all(
        store, namespaces.team_workspace(team_id), namespaces.team_members(team_id)
    )
    return Workspace(
        entries={item.key: item.value for item in entries},
        members={item.key: item.value for item in members},
    )


async def get_entry(
    store: BaseStore, team_id: str, actor_id: str, key: str
) -> dict[str, Any] | None:
    """One workspace entry (value, updated_by, updated_at), for a member; None if unset.

    Raises:
        AccessDeniedError: The actor is not a member.
    """
    validate_key(key)
    await require_member(store, team_id, actor_id)
    (item,) = await store.abatch([GetOp(namespaces.team_workspace(team_id), key)])
    return None if item is None else item.value
