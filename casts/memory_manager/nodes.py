"""Nodes of the memory manager: read what is new, extract, recall, decide, write.

Nothing is written until the model's whole answer has been validated; a rejected answer
leaves the thread's cursor where it was, so the next run reads the same messages again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from pydantic import BaseModel

from casts.base_node import AsyncBaseNode
from casts.memory import (
    InvalidValueError,
    MemoryContext,
    Provenance,
    chat_model_from_env,
    check_scalar_or_list,
    forget_user,
    iso_now,
    memories,
    namespaces,
    profiles,
    require_store,
    resolve_identity,
    transcript,
    validate_key,
)
from casts.memory_manager.modules.prompts import (
    DECIDE_PROMPT,
    EXTRACT_PROMPT,
    render_candidates,
    render_transcript,
)
from casts.memory_manager.modules.state import ManagerState
from casts.memory_manager.modules.tools import Decisions, Extraction

RELATED_MEMORIES = 3
"""How many of the user's current memories recall shows the model per candidate."""
MEMORY_KINDS = {"fact": "fact", "preference": "preference", "event": "event"}


class Rejected(Exception):
    """The model's answer is refused; ``field`` and ``reason`` say why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def model_name(model: BaseChatModel) -> str:
    """The model's name for provenance (``gpt-4o-mini``), else its class."""
    for attribute in ("model_name", "model"):
        name = getattr(model, attribute, None)
        if isinstance(name, str) and name:
            return name
    return type(model).__name__


def parse_messages(raw: Any) -> list[dict[str, str]]:
    """The input's messages as ``{"id", "type", "content"}``, each checked.

    Raises:
        InvalidValueError: Naming the message (``messages[2].id``).
    """
    if not isinstance(raw, list):
        raise InvalidValueError("messages", "must be a list of messages")
    parsed = []
    for position, message in enumerate(raw):
        where = f"messages[{position}]"
        if isinstance(message, BaseMessage):
            message = (transcript([message]) or [{"id": message.id, "type": "", "content": ""}])[0]
        if not isinstance(message, Mapping):
            raise InvalidValueError(where, "must be an object with id, type and content")
        kind = message.get("type") or {"user": "human", "assistant": "ai"}.get(
            message.get("role", "")
        )
        content = message.get("content")
        validate_key(message.get("id"), field=f"{where}.id")
        if kind not in ("human", "ai") or not isinstance(content, str):
            continue  # tool traffic and empty messages say nothing to remember
        parsed.append({"id": message["id"], "type": kind, "content": content})
    return parsed


async def structured(model: BaseChatModel, schema: type[BaseModel], prompt: str) -> BaseModel:
    """Ask the model for ``schema``; a malformed or invalid answer raises ``Rejected``."""
    bound = model.with_structured_output(schema, include_raw=True, method="function_calling")
    answer = await bound.ainvoke([HumanMessage(prompt)])
    if answer.get("parsing_error") is not None:
        raise Rejected(schema.__name__, str(answer["parsing_error"]))
    if answer.get("parsed") is None:
        raw = answer.get("raw")
        invalid = getattr(raw, "invalid_tool_calls", None)
        reason = (
            f"invalid JSON: {invalid[0].get('error') or invalid[0].get('args')}"
            if invalid
            else "the model returned no structured answer"
        )
        raise Rejected(schema.__name__, reason)
    return answer["parsed"]


class ReadNewMessages(AsyncBaseNode):
    """Find the messages past the thread's cursor (all of them on a first reading)."""

    async def execute(self, state: ManagerState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Put the unread messages in state; the output starts empty."""
        user_id = resolve_identity(runtime).require_user()
        thread_id = validate_key(state.get("thread_id"), field="thread_id")
        messages = parse_messages(state.get("messages", []))
        store = require_store(runtime)
        cursor = await store.aget(namespaces.user_formation(user_id), thread_id)
        last = cursor.value.get("last_message_id") if cursor else None
        ids = [message["id"] for message in messages]
        unread = messages[ids.index(last) + 1 :] if last in ids else messages
        return {"new_messages": unread, "decisions": [], "rejected": [], "read_up_to": last}


class ExtractCandidates(AsyncBaseNode):
    """Ask the model what in the new messages is worth remembering."""

    def __init__(self, model: BaseChatModel | None) -> None:
        self.model = model

    async def execute(self, state: ManagerState) -> dict[str, Any]:
        """Candidates in state, or the rejection of the model's answer."""
        model = self.model if self.model is not None else chat_model_from_env()
        prompt = EXTRACT_PROMPT.format(
            today=iso_now()[:10], transcript=render_transcript(state["new_messages"])
        )
        try:
            extraction = await structured(model, Extraction, prompt)
            candidates = [c.model_dump() for c in extraction.candidates]
            check_candidates(candidates, state["new_messages"])
        except Rejected as error:
            return {"rejected": [{"field": error.field, "reason": error.reason}]}
        return {"candidates": candidates, "model_name": model_name(model)}


def check_candidates(candidates: Sequence[dict[str, Any]], messages: Sequence[dict]) -> None:
    """Every candidate cites messages it read and is a valid record of its kind.

    Raises:
        Rejected: Naming the candidate's field (``candidates[1].occurred_at``).
    """
    shown = {message["id"] for message in messages}
    for number, candidate in enumerate(candidates):
        where = f"candidates[{number}]"
        unknown = [i for i in candidate["message_ids"] if i not in shown]
        if unknown:
            raise Rejected(f"{where}.message_ids", f"not in the transcript: {unknown}")
        try:
            if candidate["kind"] == "profile":
                validate_key(candidate["field"], field="field")
                if candidate["value"] is None:
                    raise InvalidValueError("value", "a profile field needs a value")
                check_scalar_or_list(candidate["value"], field="value")
            else:
                memories.new_record(
                    candidate["content"],
                    MEMORY_KINDS[candidate["kind"]],
                    None,
                    1.0,
                    candidate["occurred_at"],
                    None,
                )
        except InvalidValueError as error:
            raise Rejected(f"{where}.{error.field}", error.reason) from None


class RecallRelated(AsyncBaseNode):
    """Recall the user's current memories related to each memory candidate."""

    async def execute(self, state: ManagerState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Related memories per candidate (none for profile fields), keys and contents."""
        user_id = resolve_identity(runtime).require_user()
        store = require_store(runtime)

        async def related(candidate: dict[str, Any]) -> list[dict[str, Any]]:
            if candidate["kind"] == "profile":
                return []
            hits = await memories.recall_memories(
                store, user_id, candidate["content"], RELATED_MEMORIES
            )
            return [{"key": hit.key, "content": hit.value.get("content")} for hit in hits]

        return {"related": await asyncio.gather(*map(related, state["candidates"]))}


class DecideActions(AsyncBaseNode):
    """Ask the model, per memory candidate, to add, confirm, update or supersede."""

    def __init__(self, model: BaseChatModel | None) -> None:
        self.model = model

    async def execute(self, state: ManagerState) -> dict[str, Any]:
        """One checked decision per candidate in state, or the rejection."""
        candidates, related = state["candidates"], state["related"]
        asked = [n for n, candidate in enumerate(candidates) if candidate["kind"] != "profile"]
        chosen: dict[int, dict[str, Any]] = {}
        if asked:
            model = self.model if self.model is not None else chat_model_from_env()
            prompt = DECIDE_PROMPT.format(candidates=render_candidates(candidates, related))
            try:
                answer = await structured(model, Decisions, prompt)
                chosen = check_decisions(answer, candidates, asked, related)
            except Rejected as error:
                return {"rejected": [{"field": error.field, "reason": error.reason}]}
        return {"chosen": [chosen.get(n, {"action": "set"}) for n in range(len(candidates))]}


def check_decisions(
    answer: Decisions,
    candidates: Sequence[dict[str, Any]],
    asked: Sequence[int],
    related: Sequence[Sequence[dict[str, Any]]],
) -> dict[int, dict[str, Any]]:
    """Exactly one decision per asked candidate, naming only keys the model was shown.

    A memory cannot supersede itself: a candidate saying what the named memory says is a
    confirmation.

    Raises:
        Rejected: Naming the decision's field (``decisions[0].key``).
    """
    chosen: dict[int, dict[str, Any]] = {}
    for position, decision in enumerate(answer.decisions):
        where = f"decisions[{position}]"
        if decision.candidate not in asked:
            raise Rejected(f"{where}.candidate", f"no memory candidate {decision.candidate}")
        if decision.candidate in chosen:
            raise Rejected(f"{where}.candidate", f"candidate {decision.candidate} decided twice")
        shown = {memory["key"] for memory in related[decision.candidate]}
        if decision.action != "add" and decision.key not in shown:
            raise Rejected(
                f"{where}.key", f"unknown memory key {decision.key!r} for {decision.action}"
            )
        same = memories.memory_key(candidates[decision.candidate]["content"]) == decision.key
        if decision.action == "supersede" and same:
            raise Rejected(f"{where}.action", f"{decision.key!r} says the same; confirm it")
        chosen[decision.candidate] = decision.model_dump()
    missing = [n for n in asked if n not in chosen]
    if missing:
        raise Rejected("decisions", f"no decision for candidates {missing}")
    return chosen


class WriteMemories(AsyncBaseNode):
    """Apply the checked decisions, then move the thread's cursor past what was read."""

    async def execute(self, state: ManagerState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Write each decision with its provenance; report what was done."""
        user_id = resolve_identity(runtime).require_user()
        store = require_store(runtime)
        thread_id = state["thread_id"]
        done = [
            await apply(store, user_id, candidate, decision, thread_id, state["model_name"])
            for candidate, decision in zip(state["candidates"], state["chosen"], strict=True)
        ]
        last = state["new_messages"][-1]["id"]
        await store.aput(
            namespaces.user_formation(user_id),
            thread_id,
            {"thread_id": thread_id, "last_message_id": last, "read_at": iso_now()},
            index=False,
        )
        return {"decisions": done, "read_up_to": last}


async def apply(
    store: BaseStore,
    user_id: str,
    candidate: dict[str, Any],
    decision: dict[str, Any],
    thread_id: str,
    model: str,
) -> dict[str, Any]:
    """Write one candidate as decided; what was done, for the run's output."""
    provenance = Provenance(thread_id=thread_id, message_ids=candidate["message_ids"], model=model)
    if candidate["kind"] == "profile":
        name, value = candidate["field"], candidate["value"]
        before = (await profiles.read_profile(store, user_id)).fields.get(name)
        change = profiles.plan_profile_change(user_id, fields={name: value}, thread_id=thread_id)
        await profiles.apply_profile_change(store, change)
        action = "add" if before is None else "confirm" if before == value else "update"
        return {"action": action, "kind": "profile", "key": name, "content": candidate["content"]}
    action, key = decision["action"], decision.get("key")
    fields = {
        "kind": MEMORY_KINDS[candidate["kind"]],
        "source": thread_id,
        "occurred_at": candidate["occurred_at"],
        "provenance": provenance,
    }
    if action == "supersede":
        stored = await memories.supersede(store, user_id, key, candidate["content"], **fields)
    else:
        content = candidate["content"]
        if action == "confirm":
            existing = await store.aget(namespaces.user_memories(user_id), key)
            content = existing.value.get("content", content) if existing else content
        stored = await memories.remember(
            store, user_id, content, key=None if action == "add" else key, **fields
        )
    return {
        "action": action,
        "kind": candidate["kind"],
        "key": stored.key,
        "content": stored.content,
        "replaced": key if action != "add" else None,
    }


class ForgetMe(AsyncBaseNode):
    """Delete everything of the run's user (under auth: only the authenticated user)."""

    async def execute(
        self, state: ManagerState, config: RunnableConfig, runtime: Runtime[MemoryContext]
    ) -> dict[str, Any]:
        """The receipt; inside the server the user's threads go too, except this run's."""
        user_id = resolve_identity(runtime, config).require_user()
        client = None
        if runtime.server_info is not None:
            from langgraph_sdk import get_client

            client = get_client()
        this_thread = (config.get("configurable") or {}).get("thread_id")
        receipt = await forget_user(
            require_store(runtime),
            user_id,
            client=client,
            keep_threads=[str(this_thread)] if this_thread and client else [],
        )
        return {"forgotten": receipt.as_json()}
