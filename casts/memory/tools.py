"""Model-callable tools that several casts share.

The store and the user come from the run (``ToolRuntime``), never from the model: the model
supplies only what the call is about. Refused input comes back as "Error: ..." text the
model can correct, and nothing is written (``casts.memory.agent.tooling.report_errors``).
"""

from __future__ import annotations

import json
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.tools import tool

from casts.memory.agent.tooling import report_errors, runs_sync
from casts.memory.core.context import MemoryContext
from casts.memory.core.identity import resolve_identity
from casts.memory.kinds.profiles import apply_profile_change, plan_profile_change, read_profile
from casts.memory.store.guarded import require_store


@runs_sync
@tool
@report_errors
async def get_user_profile(runtime: ToolRuntime[MemoryContext]) -> str:
    """Read the current user's profile fields and preferences as JSON."""
    user_id = resolve_identity(runtime).require_user()
    profile = await read_profile(require_store(runtime), user_id)
    return json.dumps({"profile": profile.fields, "preferences": profile.preferences})


@runs_sync
@tool
@report_errors
async def update_user_profile(field: str, value: Any, runtime: ToolRuntime[MemoryContext]) -> str:
    """Set one field of the current user's profile (e.g. name, timezone, occupation).

    Args:
        field: The profile field's name.
        value: A string, number, boolean, or a list of those.
        runtime: Injected by LangGraph (store, user); hidden from the model.
    """
    identity = resolve_identity(runtime)
    change = plan_profile_change(
        identity.require_user(), fields={field: value}, thread_id=identity.session_id
    )
    await apply_profile_change(require_store(runtime), change)
    return f"Saved profile field {field!r}."


@runs_sync
@tool
@report_errors
async def set_preference(name: str, value: Any, runtime: ToolRuntime[MemoryContext]) -> str:
    """Set one of the current user's preferences (e.g. theme, language, answer length).

    Args:
        name: The preference's name.
        value: A string, number, boolean, or a list of those.
        runtime: Injected by LangGraph (store, user); hidden from the model.
    """
    change = plan_profile_change(
        resolve_identity(runtime).require_user(), preferences={name: value}
    )
    await apply_profile_change(require_store(runtime), change)
    return f"Saved preference {name!r}."


@runs_sync
@tool
@report_errors
async def get_preference(name: str, runtime: ToolRuntime[MemoryContext]) -> str:
    """Read one of the current user's preferences; says so when it is not set.

    Args:
        name: The preference's name.
        runtime: Injected by LangGraph (store, user); hidden from the model.
    """
    profile = await read_profile(require_store(runtime), resolve_identity(runtime).require_user())
    if name not in profile.preferences:
        return f"Preference {name!r} is not set."
    return json.dumps({name: profile.preferences[name]})


PROFILE_TOOLS = [get_user_profile, update_user_profile, set_preference, get_preference]
