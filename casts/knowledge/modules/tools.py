"""Knowledge tools for agents: the store and the user come from the runtime, never the model."""

from __future__ import annotations

import json

from langchain.tools import ToolRuntime
from langchain_core.tools import tool

from casts.memory import (
    MemoryContext,
    add_facts,
    list_facts,
    list_topics,
    report_errors,
    require_store,
    resolve_identity,
    runs_sync,
    search_facts,
)


@runs_sync
@tool
@report_errors
async def add_fact(
    topic: str,
    content: str,
    source: str,
    confidence: float,
    runtime: ToolRuntime[MemoryContext],
    supersedes: str | None = None,
) -> str:
    """Record a fact about a topic; stating a known fact again confirms it.

    Args:
        topic: The topic, e.g. "billing-api".
        content: The claim, one sentence.
        source: Where it comes from (URL, document, "the user said so").
        confidence: How sure the source is, 0 to 1.
        runtime: Injected by LangGraph (store, user); hidden from the model.
        supersedes: Key of a current fact this claim contradicts and replaces (keys are in
            the results of list_facts and search_facts).
    """
    claim = {"content": content, "source": source, "confidence": confidence}
    if supersedes:
        claim["supersedes"] = supersedes
    user_id = resolve_identity(runtime).require_user()
    result = await add_facts(require_store(runtime), user_id, topic, [claim])
    return json.dumps({"fact": result.facts[0].to_dict()})


@runs_sync
@tool
@report_errors
async def list_knowledge(
    runtime: ToolRuntime[MemoryContext], topic: str | None = None, include_superseded: bool = False
) -> str:
    """List the current facts of a topic as JSON; without a topic, list the topics.

    Args:
        runtime: Injected by LangGraph (store, user); hidden from the model.
        topic: The topic to list.
        include_superseded: Also list facts that were replaced (with superseded_by).
    """
    user_id = resolve_identity(runtime).require_user()
    store = require_store(runtime)
    if not topic:
        return json.dumps({"topics": await list_topics(store, user_id)})
    facts = await list_facts(store, user_id, topic, include_superseded=include_superseded)
    return json.dumps({"topic": topic, "facts": [stored.to_dict() for stored in facts]})


@runs_sync
@tool
@report_errors
async def search_knowledge(
    query: str,
    runtime: ToolRuntime[MemoryContext],
    topic: str | None = None,
    limit: int = 5,
) -> str:
    """Find the current facts that best match a question, across topics or in one topic.

    Args:
        query: What to look for.
        runtime: Injected by LangGraph (store, user); hidden from the model.
        topic: Only search this topic.
        limit: How many facts to return (1-100).
    """
    user_id = resolve_identity(runtime).require_user()
    found = await search_facts(require_store(runtime), user_id, query, topic=topic, limit=limit)
    return json.dumps({"facts": [stored.to_dict() for stored in found]})


KNOWLEDGE_TOOLS = [add_fact, list_knowledge, search_knowledge]
