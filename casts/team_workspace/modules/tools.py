"""Team-workspace tools for agents: team and user come from the runtime, never the model.

Membership is managed through the cast (or the functions in ``casts.memory.kinds.workspace``),
not by the model: an agent can read and write its team's workspace, not change who is in it.
"""

from __future__ import annotations

import json
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.tools import tool

from casts.memory import (
    MemoryContext,
    get_entry,
    read_workspace,
    report_errors,
    require_store,
    resolve_identity,
    runs_sync,
    write_workspace,
)


@runs_sync
@tool
@report_errors
async def read_team_workspace(runtime: ToolRuntime[MemoryContext], key: str | None = None) -> str:
    """Read the team's shared workspace (or one entry) as JSON, with who wrote what and when.

    Args:
        runtime: Injected by LangGraph (store, user, team); hidden from the model.
        key: One entry to read; all entries when omitted.
    """
    identity = resolve_identity(runtime)
    team_id, user_id = identity.require_team(), identity.require_user()
    store = require_store(runtime)
    if key:
        entry = await get_entry(store, team_id, user_id, key, token_teams=identity.teams)
        return json.dumps({key: entry}) if entry else f"The workspace has no entry {key!r}."
    workspace = await read_workspace(store, team_id, user_id, token_teams=identity.teams)
    return json.dumps({"entries": workspace.entries})


@runs_sync
@tool
@report_errors
async def write_team_workspace(
    key: str, value: dict[str, Any], runtime: ToolRuntime[MemoryContext]
) -> str:
    """Set one entry of the team's shared workspace (e.g. key "status", value {"phase": "beta"}).

    Args:
        key: The entry's name.
        value: A JSON object; replaces the entry's previous value.
        runtime: Injected by LangGraph (store, user, team); hidden from the model.
    """
    identity = resolve_identity(runtime)
    await write_workspace(
        require_store(runtime),
        identity.require_team(),
        identity.require_user(),
        {key: value},
        token_teams=identity.teams,
    )
    return f"Saved workspace entry {key!r}."


WORKSPACE_TOOLS = [read_team_workspace, write_team_workspace]
