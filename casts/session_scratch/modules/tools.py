"""Session-scratch tools for agents: user and session come from the runtime, never the model."""

from __future__ import annotations

import json
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.tools import tool

from casts.memory import (
    DEFAULT_TTL_MINUTES,
    MemoryContext,
    read_scratch,
    report_errors,
    require_store,
    resolve_identity,
    runs_sync,
    write_scratch,
)


@runs_sync
@tool
@report_errors
async def save_scratch(
    key: str,
    data: dict[str, Any],
    runtime: ToolRuntime[MemoryContext],
    ttl_minutes: float = DEFAULT_TTL_MINUTES,
) -> str:
    """Keep temporary data for this session only (a draft, intermediate results).

    Args:
        key: The entry's name.
        data: A JSON object.
        runtime: Injected by LangGraph (store, user, session); hidden from the model.
        ttl_minutes: How long to keep it (default one day); the session's end deletes it too.
    """
    identity = resolve_identity(runtime)
    await write_scratch(
        require_store(runtime),
        identity.require_user(),
        identity.require_session(),
        {key: data},
        ttl_minutes=ttl_minutes,
    )
    return f"Saved scratch entry {key!r}."


@runs_sync
@tool
@report_errors
async def read_session_scratch(runtime: ToolRuntime[MemoryContext]) -> str:
    """Read this session's temporary data as JSON (key -> data)."""
    identity = resolve_identity(runtime)
    entries = await read_scratch(
        require_store(runtime), identity.require_user(), identity.require_session()
    )
    return json.dumps({key: value.get("data") for key, value in entries.items()})


SCRATCH_TOOLS = [save_scratch, read_session_scratch]
