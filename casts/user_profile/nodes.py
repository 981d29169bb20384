"""Nodes of the user-profile cast: validate and apply changes, then read the profile back."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from casts.base_node import AsyncBaseNode
from casts.memory import (
    MemoryContext,
    apply_profile_change,
    plan_profile_change,
    read_profile,
    require_store,
    resolve_identity,
)
from casts.user_profile.modules.state import ProfileState


class ApplyProfileChanges(AsyncBaseNode):
    """Validate every requested change, then write them all in one batch.

    Each field is its own item, so this never overwrites a field another thread changed.
    """

    async def execute(self, state: ProfileState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Apply the request for the run's user."""
        identity = resolve_identity(runtime)
        change = plan_profile_change(
            identity.require_user(),
            fields=state.get("set_fields"),
            preferences=state.get("set_preferences"),
            remove_fields=state.get("remove_fields"),
            remove_preferences=state.get("remove_preferences"),
            thread_id=identity.session_id,
        )
        await apply_profile_change(require_store(runtime), change)
        return {"changed": change.changed}


class LoadProfile(AsyncBaseNode):
    """Read the whole profile and all preferences in one round trip."""

    async def execute(self, state: ProfileState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Return the profile as the store holds it now."""
        user_id = resolve_identity(runtime).require_user()
        profile = await read_profile(require_store(runtime), user_id)
        return {"profile": profile.fields, "preferences": profile.preferences}
