"""Nodes of the memory agent: load what the agent should know each turn.

The model is called by the shared ``casts.memory.agent.model.CallModel`` with this cast's prompt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore, GetOp, SearchItem, SearchOp

from casts.base_node import AsyncBaseNode
from casts.memory import (
    Identity,
    MemoryContext,
    TeamMember,
    check_op,
    memories,
    namespaces,
    newest_items,
    require_store,
    resolve_identity,
    team_role,
)
from casts.memory_agent.modules.prompts import render_system_prompt
from casts.memory_agent.modules.state import Known, MemoryAgentState

MAX_PROFILE_ITEMS = 100
"""At most this many profile fields, and as many preferences, go into the prompt."""
MAX_WORKSPACE_ITEMS = 50
"""At most this many team workspace entries go into the prompt."""
RELEVANT_MEMORIES = 5
"""How many memories relevant to the latest message go into the prompt."""


def latest_human_text(messages: Sequence[AnyMessage]) -> str:
    """The text of the latest human message, or "" when there is none."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text.strip()
    return ""


async def load_known(store: BaseStore, identity: Identity, query: str) -> Known:
    """Read everything the agent should know this turn.

    Profile and preferences are one read (``newest_items``: one statement on PostgreSQL)
    and, when the run names a team, the user's membership of the team and the team
    workspace one ``abatch``; both run concurrently with recall, so the turn waits for the
    slowest, not their sum. Everything is read from the store itself, so a write by any
    process shows on the next turn. The workspace is kept only when ``team_role`` admits
    the user (the rule the team_workspace cast and the HTTP store API apply), so naming
    someone else's team reveals nothing.
    """
    user_id = identity.require_user()
    team_ops: list[GetOp | SearchOp] = []
    if identity.team_id:
        team_ops = [
            GetOp(namespaces.team_members(identity.team_id), user_id),
            SearchOp(namespaces.team_workspace(identity.team_id), limit=MAX_WORKSPACE_ITEMS),
        ]
    for position, op in enumerate(team_ops):
        check_op(op, position)
    personal = newest_items(
        store,
        [namespaces.user_profile(user_id), namespaces.user_preferences(user_id)],
        MAX_PROFILE_ITEMS,
    )
    relevant = (
        memories.recall_memories(store, user_id, query, RELEVANT_MEMORIES) if query else _nothing()
    )
    (profile, preferences), recalled, team = await asyncio.gather(
        personal, relevant, store.abatch(team_ops) if team_ops else _nothing()
    )
    known: Known = {
        "profile": _values(profile),
        "preferences": _values(preferences),
        "memories": [memories.describe(item) for item in recalled],
        "team": None,
    }
    record = TeamMember.model_validate(team[0].value) if team and team[0] else None
    if identity.team_id and team_role(identity.team_id, record, identity.teams):
        known["team"] = {"team_id": identity.team_id, "workspace": _values(team[1])}
    return known


async def _nothing() -> list[SearchItem]:
    return []


def _values(items: list[SearchItem] | None) -> dict[str, Any]:
    """Key -> stored value; profile, preference and workspace records keep it in ``value``."""
    return {item.key: item.value.get("value", item.value) for item in items or []}


class LoadMemoryContext(AsyncBaseNode):
    """Load the user's profile, preferences, relevant memories and team context once a turn."""

    async def execute(
        self, state: MemoryAgentState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Put what the agent should know into state for the rest of the turn."""
        identity = resolve_identity(runtime)
        identity.require_user()
        query = latest_human_text(state["messages"])
        return {"known": await load_known(require_store(runtime), identity, query)}


def memory_agent_prompt(state: MemoryAgentState) -> str:
    """The memory agent's system prompt from what ``LoadMemoryContext`` put in state."""
    return render_system_prompt(state.get("known") or {})
