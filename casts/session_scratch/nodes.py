"""Nodes of the session-scratch cast: write or end, then read the session back."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from casts.base_node import AsyncBaseNode
from casts.memory import (
    DEFAULT_TTL_MINUTES,
    MemoryContext,
    end_session,
    read_scratch,
    require_store,
    resolve_identity,
    write_scratch,
)
from casts.session_scratch.modules.state import ScratchState


def _session(runtime: Runtime[MemoryContext]) -> tuple[str, str]:
    identity = resolve_identity(runtime)
    return identity.require_user(), identity.require_session()


class WriteScratchEntries(AsyncBaseNode):
    """Set and remove entries of the session in one batch, each with its expiry."""

    async def execute(self, state: ScratchState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Validate everything, then write (with a TTL where the backend has one)."""
        user_id, session_id = _session(runtime)
        ttl = state.get("ttl_minutes")
        changed = await write_scratch(
            require_store(runtime),
            user_id,
            session_id,
            state.get("set_entries"),
            state.get("remove_entries"),
            ttl_minutes=DEFAULT_TTL_MINUTES if ttl is None else ttl,
        )
        return {"changed": changed, "deleted": 0}


class EndScratchSession(AsyncBaseNode):
    """Delete every item of the session (all pages): the session is over."""

    async def execute(self, state: ScratchState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Delete the session's data and report how much was deleted."""
        user_id, session_id = _session(runtime)
        deleted = await end_session(require_store(runtime), user_id, session_id)
        return {"changed": [], "deleted": deleted}


class LoadScratch(AsyncBaseNode):
    """Read the session's live entries (expired ones are left out on every backend)."""

    async def execute(self, state: ScratchState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Return the session's entries as the store holds them now."""
        user_id, session_id = _session(runtime)
        entries = await read_scratch(require_store(runtime), user_id, session_id)
        update: dict[str, Any] = {"entries": entries}
        if state.get("action") == "read":
            update |= {"changed": [], "deleted": 0}
        return update
