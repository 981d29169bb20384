"""Nodes of the knowledge cast: one per action (the graph routes by ``action``)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from casts.base_node import AsyncBaseNode
from casts.knowledge.modules.state import EMPTY_RESULT, KnowledgeState
from casts.memory import (
    MemoryContext,
    add_facts,
    list_facts,
    list_topics,
    require_store,
    resolve_identity,
    search_facts,
)


class AddFacts(AsyncBaseNode):
    """Add, confirm or supersede facts of one topic in one batch (nothing on bad input)."""

    async def execute(
        self, state: KnowledgeState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Apply the claims for the run's user and report what was written."""
        user_id = resolve_identity(runtime).require_user()
        result = await add_facts(
            require_store(runtime), user_id, state.get("topic"), state.get("claims") or []
        )
        return {
            **EMPTY_RESULT,
            "facts": [stored.to_dict() for stored in result.facts],
            "written": result.written,
        }


class ListFacts(AsyncBaseNode):
    """List the user's topics and, when a topic is given, every fact of it (all pages)."""

    async def execute(
        self, state: KnowledgeState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Return the topics and the topic's facts, current ones unless asked otherwise."""
        user_id = resolve_identity(runtime).require_user()
        store = require_store(runtime)
        topic = state.get("topic")
        facts = (
            await list_facts(
                store, user_id, topic, include_superseded=bool(state.get("include_superseded"))
            )
            if topic
            else []
        )
        return {
            **EMPTY_RESULT,
            "facts": [stored.to_dict() for stored in facts],
            "topics": await list_topics(store, user_id),
        }


class SearchFacts(AsyncBaseNode):
    """Find the facts best matching a query, through the project's one recall path."""

    async def execute(
        self, state: KnowledgeState, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """Return the best matches, best first."""
        user_id = resolve_identity(runtime).require_user()
        limit = state.get("limit")
        found = await search_facts(
            require_store(runtime),
            user_id,
            state.get("query") or "",
            topic=state.get("topic") or None,
            limit=5 if limit is None else limit,
            include_superseded=bool(state.get("include_superseded")),
        )
        return {
            **EMPTY_RESULT,
            "facts": [stored.to_dict() for stored in found],
        }
