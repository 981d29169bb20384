"""A test-only cast whose nodes are sync ``BaseNode`` s reading and writing ``runtime.store``.

Served by a test ``langgraph dev`` config (``tests/test_sync.py``) and run by the sync tests
under ``invoke`` and ``ainvoke``. Each node uses the store both ways sync code can: its sync
methods (``put``, ``get``) and a shared memory operation through ``run_sync``.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from casts.base_graph import BaseGraph, add_nodes
from casts.base_node import BaseNode
from casts.memory import namespaces
from casts.memory.core.context import MemoryContext
from casts.memory.core.identity import resolve_identity
from casts.memory.kinds.profiles import apply_profile_change, plan_profile_change, read_profile
from casts.memory.store.blocking import run_sync
from casts.memory.store.guarded import require_store


class NoteInput(TypedDict, total=False):
    """A note to remember for the run's user; none just reads."""

    note: str


class NoteOutput(TypedDict, total=False):
    """What the store holds for the user after the run."""

    last_note: Any
    profile: dict[str, Any]


class NoteState(NoteInput, NoteOutput):
    """Everything the nodes read and write."""


class RememberNote(BaseNode):
    """Write the note twice: a preference with ``store.put``, a profile field via run_sync."""

    def execute(self, state: NoteState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Write the note for the run's user, if there is one."""
        note = state.get("note")
        if note is None:
            return {}
        user = resolve_identity(runtime).require_user()
        store = require_store(runtime)
        store.put(namespaces.user_preferences(user), "last_note", {"value": note})
        run_sync(apply_profile_change, store, plan_profile_change(user, fields={"note": note}))
        return {}


class ReadNote(BaseNode):
    """Read both back: ``store.get`` and ``read_profile`` via run_sync."""

    def execute(self, state: NoteState, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
        """Return what the store holds now."""
        user = resolve_identity(runtime).require_user()
        store = require_store(runtime)
        item = store.get(namespaces.user_preferences(user), "last_note")
        profile = run_sync(read_profile, store, user)
        return {"last_note": item.value["value"] if item else None, "profile": profile.fields}


class SyncNotesGraph(BaseGraph):
    """remember_note -> read_note, both sync."""

    name = "sync_notes"
    state_schema = NoteState
    input_schema = NoteInput
    output_schema = NoteOutput

    def define(self) -> StateGraph:
        """Two sync nodes in a line."""
        builder = self.new_builder()
        remember, read = RememberNote(), ReadNote()
        add_nodes(builder, remember, read)
        builder.add_edge(START, remember.name)
        builder.add_edge(remember.name, read.name)
        builder.add_edge(read.name, END)
        return builder


graph = SyncNotesGraph()()
