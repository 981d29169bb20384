"""Nodes of the team-workspace cast: one per change, then a read of the whole workspace.

Every node acts for the run's user in the run's team (both from the context or the
authenticated user, never from the request); membership is checked by
``casts.memory.kinds.workspace.team_role`` (the token's teams with auth on, else the store's
roster) before anything is read or written.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from casts.base_node import AsyncBaseNode
from casts.memory import (
    Identity,
    InvalidValueError,
    MemoryContext,
    add_member,
    create_team,
    read_workspace,
    remove_member,
    require_store,
    resolve_identity,
    write_workspace,
)
from casts.team_workspace.modules.state import WorkspaceState


def _who(runtime: Runtime[MemoryContext]) -> tuple[str, str, Identity]:
    identity = resolve_identity(runtime)
    return identity.require_team(), identity.require_user(), identity


def _member_id(state: WorkspaceState) -> str:
    member_id = state.get("member_id")
    if not member_id:
        raise InvalidValueError("member_id", "must name the user to add or remove")
    return member_id


class CreateTeam(AsyncBaseNode):
    """Create the run's team with the run's user as owner; a no-op for a member."""

    async def execute(
        self, state: WorkspaceState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Create the team, refusing when the user may not; ``changed`` empty if it existed."""
        team_id, user_id, identity = _who(runtime)
        created = await create_team(
            require_store(runtime), team_id, user_id, token_teams=identity.teams
        )
        return {"changed": [f"members.{user_id}"] if created else []}


class AddTeamMember(AsyncBaseNode):
    """Add a member or change their role; owners only."""

    async def execute(
        self, state: WorkspaceState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Add ``member_id`` with ``role`` (default ``member``)."""
        team_id, user_id, identity = _who(runtime)
        member_id = _member_id(state)
        await add_member(
            require_store(runtime),
            team_id,
            user_id,
            member_id,
            state.get("role") or "member",
            token_teams=identity.teams,
        )
        return {"changed": [f"members.{member_id}"]}


class RemoveTeamMember(AsyncBaseNode):
    """Remove a member; owners only, never themselves."""

    async def execute(
        self, state: WorkspaceState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Remove ``member_id``; report nothing changed when they were not a member."""
        team_id, user_id, identity = _who(runtime)
        member_id = _member_id(state)
        removed = await remove_member(
            require_store(runtime), team_id, user_id, member_id, token_teams=identity.teams
        )
        return {"changed": [f"members.{member_id}"] if removed else []}


class WriteEntries(AsyncBaseNode):
    """Set and remove workspace entries in one batch, recording who wrote them and when."""

    async def execute(
        self, state: WorkspaceState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Validate everything, check membership, then write."""
        team_id, user_id, identity = _who(runtime)
        changed = await write_workspace(
            require_store(runtime),
            team_id,
            user_id,
            state.get("set_entries"),
            state.get("remove_entries"),
            token_teams=identity.teams,
        )
        return {"changed": changed}


class LoadWorkspace(AsyncBaseNode):
    """Read every entry and every member; a non-member is refused, not shown nothing."""

    async def execute(
        self, state: WorkspaceState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Return the workspace as the store holds it now."""
        team_id, user_id, identity = _who(runtime)
        workspace = await read_workspace(
            require_store(runtime), team_id, user_id, token_teams=identity.teams
        )
        update: dict[str, Any] = {"entries": workspace.entries, "members": workspace.members}
        if state.get("action") == "read":
            update |= {"changed": []}
        return update
