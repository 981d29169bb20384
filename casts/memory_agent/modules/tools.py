"""Memory tools of the memory agent: the store and the user come from the runtime.

The model supplies only what the memory is about; whose memory it is comes from
``resolve_identity``. Refused input comes back as "Error: ..." text the model can correct,
and nothing is written.
"""

from __future__ import annotations

import json

from langchain.tools import ToolRuntime
from langchain_core.tools import tool

from casts.memory import (
    MemoryContext,
    get_preference,
    memories,
    report_errors,
    require_store,
    resolve_identity,
    runs_sync,
    set_preference,
)


def _quoted(content: str) -> str:
    return json.dumps(content, ensure_ascii=False)


def describe_remembered(result: memories.Remembered) -> str:
    """The reply to ``remember_fact``: exactly what was stored, and what the model may do next."""
    stored = f"memory {result.key}: {_quoted(result.content)}"
    if result.status == "confirmed":
        return f"Confirmed {stored} (it already said this)."
    if result.status == "updated" and result.replaced is not None:
        old = f"memory {result.replaced.key}: {_quoted(result.replaced.content)}"
        return f"Updated {old} -> now {stored}."
    reply = f"Remembered as new {stored}."
    if result.similar:
        listed = "; ".join(f"{ref.key}: {_quoted(ref.content)}" for ref in result.similar)
        reply += (
            f" Similar memories were left unchanged: {listed}. If the new memory corrects or "
            "updates one of them, call remember_fact again with the same content and that "
            "memory's key to replace it."
        )
    return reply


@runs_sync
@tool
@report_errors
async def remember_fact(
    content: str,
    runtime: ToolRuntime[MemoryContext],
    kind: memories.MemoryKind = "fact",
    confidence: float = 1.0,
    key: str | None = None,
) -> str:
    """Remember something lasting about the user for future conversations.

    Saying exactly the same thing again confirms the existing memory instead of adding a
    copy. Anything else becomes a new memory, unless you pass the key of the memory it
    corrects or updates: that memory is then replaced. The reply says what was stored and
    names similar memories with their keys.

    Args:
        content: The fact, as a short self-contained sentence ("Ada is allergic to nuts").
        runtime: Injected by LangGraph (store, user); hidden from the model.
        kind: fact, event, preference, instruction or note.
        confidence: How sure you are, from 0.0 to 1.0.
        key: Only to correct or update a memory: the key of the memory this one replaces,
            as shown with recalled memories.
    """
    identity = resolve_identity(runtime)
    result = await memories.remember(
        require_store(runtime),
        identity.require_user(),
        content,
        kind=kind,
        source=f"thread:{identity.session_id}" if identity.session_id else None,
        confidence=confidence,
        key=key or None,
    )
    return describe_remembered(result)


@runs_sync
@tool
@report_errors
async def recall_memories(query: str, runtime: ToolRuntime[MemoryContext], limit: int = 5) -> str:
    """Search the user's long-term memories for ones relevant to the query.

    The memories most relevant to the user's latest message are already in your
    instructions; search when you need others.

    Args:
        query: What to look for, in words the memory would use.
        runtime: Injected by LangGraph (store, user); hidden from the model.
        limit: How many memories to return, from 1 to 50.
    """
    user_id = resolve_identity(runtime).require_user()
    found = await memories.recall_memories(require_store(runtime), user_id, query, limit)
    if not found:
        return "No memories found."
    return json.dumps([memories.describe(item) for item in found], ensure_ascii=False)


@runs_sync
@tool
@report_errors
async def forget_memory(key: str, runtime: ToolRuntime[MemoryContext]) -> str:
    """Delete one of the user's memories, when they ask you to forget it or it is wrong.

    Args:
        key: The memory's key, as shown with the memory.
        runtime: Injected by LangGraph (store, user); hidden from the model.
    """
    user_id = resolve_identity(runtime).require_user()
    await memories.forget(require_store(runtime), user_id, key)
    return f"Forgot memory {key}."


MEMORY_TOOLS = [remember_fact, recall_memories, forget_memory, set_preference, get_preference]
