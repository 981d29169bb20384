"""What the inspector shows and changes, through the functions every cast uses.

Each function takes the store and the user (already authorised by ``app``) and returns
plain JSON. Reads show everything the project keeps about the user, history included
(superseded memories and facts, with their provenance); writes go through
``casts.memory.kinds.memories`` and ``casts.memory.kinds.forgetting``, so they are validated
exactly as the tools validate them and write nothing when a field is bad.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from langgraph.store.base import BaseStore, GetOp, Item

from casts.memory.core import namespaces
from casts.memory.core.errors import InvalidValueError
from casts.memory.core.values import validate_key
from casts.memory.kinds import knowledge, memories
from casts.memory.kinds.forgetting import forget_user
from casts.memory.kinds.profiles import read_profile
from casts.memory.kinds.scratch import read_scratch
from casts.memory.kinds.workspace import read_workspace
from casts.memory.recall.search import explain
from casts.memory.store.reading import asearch_all
from casts.memory.store.transfer import list_namespaces

MAX_SEARCH_LIMIT = memories.MAX_RECALL_LIMIT


def _time(moment: datetime | str | None) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else moment


def _memory(item: Item) -> dict[str, Any]:
    return {
        "key": item.key,
        **item.value,
        "status": item.value.get("status") or "current",
        "stored_at": _time(item.updated_at),
    }


async def known_users(store: BaseStore) -> list[str]:
    """Every user the store holds data of (for picking one when auth is off)."""
    found: set[str] = set()
    for root in (namespaces.USER, namespaces.SESSION):
        for namespace in await store.alist_namespaces(prefix=(root,), max_depth=2, limit=1000):
            if len(namespace) == 2:
                found.add(namespaces.decode_id(namespace[1]))
    return sorted(found)


async def teams_of(
    store: BaseStore, user_id: str, token_teams: Collection[str] | None
) -> list[str]:
    """The teams whose workspace the user may read: the token's, or (no auth) the rosters'."""
    if token_teams is not None:
        return sorted(token_teams)
    rosters = [
        namespace
        for namespace in await list_namespaces(store, (namespaces.TEAM,))
        if len(namespace) == 3 and namespace[2] == namespaces.MEMBERS
    ]
    found = await store.abatch([GetOp(namespace, user_id) for namespace in rosters])
    return sorted(
        namespaces.decode_id(namespace[1])
        for namespace, entry in zip(rosters, found, strict=True)
        if entry is not None
    )


async def overview(
    store: BaseStore, user_id: str, token_teams: Collection[str] | None
) -> dict[str, Any]:
    """Everything kept about one user, each kind as the casts store it.

    Memories come current first, newest first; knowledge lists every topic's facts,
    superseded ones included (marked, with what replaced them and their sources).
    """
    profile = await read_profile(store, user_id)
    (stored,) = await asearch_all(store, namespaces.user_memories(user_id))
    listed = sorted(stored, key=lambda item: item.updated_at, reverse=True)
    listed.sort(key=lambda item: item.value.get("status") == "superseded")
    topics = await knowledge.list_topics(store, user_id)
    facts = {
        topic: [
            stored_fact.to_dict()
            for stored_fact in await knowledge.list_facts(
                store, user_id, topic, include_superseded=True
            )
        ]
        for topic in topics
    }
    sessions = [
        namespaces.decode_id(namespace[2])
        for namespace in await list_namespaces(store, namespaces.user_sessions(user_id))
        if namespace[3:] == (namespaces.SCRATCH,)
    ]
    scratch = {session: await read_scratch(store, user_id, session) for session in sessions}
    teams = {}
    for team in await teams_of(store, user_id, token_teams):
        workspace = await read_workspace(store, team, user_id, token_teams=token_teams)
        teams[team] = {"entries": workspace.entries, "members": workspace.members}
    return {
        "user_id": user_id,
        "profile": profile.fields,
        "preferences": profile.preferences,
        "memories": [_memory(item) for item in listed],
        "knowledge": facts,
        "scratch": scratch,
        "teams": teams,
    }


def _limit(raw: Any) -> int:
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise InvalidValueError("limit", "must be a whole number") from None
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidValueError("limit", f"must be from 1 to {MAX_SEARCH_LIMIT}")
    return limit


async def search(store: BaseStore, user_id: str, query: Any, limit: Any) -> dict[str, Any]:
    """Recall over the user's memories and knowledge, each hit with why it ranked.

    Superseded entries are included and marked: the question is often "why did it recall
    that old fact?".

    Raises:
        InvalidValueError: An empty ``query`` or a bad ``limit``.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidValueError("query", "must be a non-empty string")
    limit = _limit(limit)
    results = {}
    for name, namespace in (
        ("memories", namespaces.user_memories(user_id)),
        ("knowledge", namespaces.user_knowledge_root(user_id)),
    ):
        hits = await explain(store, namespace, query.strip(), limit=limit)
        results[name] = [
            {
                "key": hit.item.key,
                "content": hit.item.value.get("content"),
                "status": hit.item.value.get("status") or "current",
                "topic": hit.item.value.get("topic"),
                "score": hit.item.score,
                "lexical": hit.lexical,
                "semantic": hit.semantic,
                "bm25": hit.bm25,
                "cosine": hit.cosine,
            }
            for hit in hits
        ]
    return {"query": query.strip(), **results}


def _confidence(raw: Any) -> Any:
    """A number as the form sends it; anything else is left for validation to name."""
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


async def edit_memory(store: BaseStore, user_id: str, key: str, change: Any) -> dict[str, Any]:
    """Replace the current memory ``key`` with the edited content (``memories.remember``).

    The memory keeps its source, its ``created_at`` and its provenance; only content,
    kind and confidence come from the page.

    Raises:
        InvalidValueError: A bad field (``memory.content``, ``memory.confidence``, ...),
            no current memory ``key``; nothing was written.
    """
    if not isinstance(change, dict):
        raise InvalidValueError("body", "must be an object with content, kind and confidence")
    validate_key(key)
    (existing,) = await store.abatch([GetOp(namespaces.user_memories(user_id), key)])
    if existing is None:
        raise InvalidValueError("key", f"there is no memory {key!r} for this user")
    if existing.value.get("status") == "superseded":
        raise InvalidValueError("key", "a superseded memory is history; edit the current one")
    remembered = await memories.remember(
        store,
        user_id,
        change.get("content"),  # type: ignore[arg-type]  # validated by remember
        kind=change.get("kind", existing.value.get("kind", "fact")),
        confidence=_confidence(change.get("confidence", existing.value.get("confidence", 1.0))),
        source=existing.value.get("source"),
        occurred_at=existing.value.get("occurred_at"),
        key=key,
    )
    return {"key": remembered.key, "content": remembered.content, "status": remembered.status}


async def forget_memory(store: BaseStore, user_id: str, key: str) -> dict[str, Any]:
    """Delete one memory (``memories.forget``).

    Raises:
        MemoryNotFoundError: The user has no memory ``key``.
    """
    await memories.forget(store, user_id, key)
    return {"key": key, "forgotten": True}


async def forget_everything(
    store: BaseStore, user_id: str, confirm: Any, client: Any
) -> dict[str, Any]:
    """Forget the user entirely (``forgetting.forget_user``), threads included.

    Raises:
        InvalidValueError: ``confirm`` does not repeat the user id; nothing was deleted.
    """
    if confirm != user_id:
        raise InvalidValueError("confirm", "type the user id to confirm forgetting everything")
    receipt = await forget_user(store, user_id, client=client)
    return receipt.as_json()
