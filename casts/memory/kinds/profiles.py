"""User profiles and preferences: one item per field.

The design note stores the whole profile as one document and updates it by get-modify-put,
which loses updates when two threads change different fields at once. Here every field and
every preference is its own item, so a write touches only the field it changes and
concurrent updates of different fields never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.base import BaseStore, PutOp

from casts.memory.core import namespaces
from casts.memory.core.errors import InvalidValueError
from casts.memory.core.records import Preference, ProfileField, check_scalar_or_list, parse_record
from casts.memory.core.values import deletion_ops, validate_key
from casts.memory.store.reading import asearch_all


@dataclass
class Profile:
    """A user's profile fields and preferences, as plain values."""

    fields: dict[str, Any] = field(default_factory=dict)
    preferences: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProfileChange:
    """A validated set of changes, ready to write in one batch."""

    ops: list[PutOp]
    changed: list[str]


def plan_profile_change(
    user_id: str,
    *,
    fields: Mapping[str, Any] | None = None,
    preferences: Mapping[str, Any] | None = None,
    remove_fields: list[str] | None = None,
    remove_preferences: list[str] | None = None,
    thread_id: str | None = None,
) -> ProfileChange:
    """Validate every change before anything is written.

    Raises:
        InvalidValueError: Naming the field (``fields.age``, ``preferences.theme``).
    """
    profile_ns = namespaces.user_profile(user_id)
    prefs_ns = namespaces.user_preferences(user_id)
    ops: list[PutOp] = []
    changed: list[str] = []
    for group, mapping in (("fields", fields), ("preferences", preferences)):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            raise InvalidValueError(group, "must be an object of name -> value")
        for name, raw in mapping.items():
            where = f"{group}.{name}"
            validate_key(name, field=where)
            check_scalar_or_list(raw, field=where)
            if group == "fields":
                record = parse_record(
                    ProfileField, {"value": raw, "updated_by_thread": thread_id}, field=where
                )
                ops.append(PutOp(profile_ns, name, record.to_value(), index=False))
            else:
                record = parse_record(Preference, {"value": raw}, field=where)
                ops.append(PutOp(prefs_ns, name, record.to_value(), index=False))
            changed.append(where)
    for group, names, target in (
        ("remove_fields", remove_fields, profile_ns),
        ("remove_preferences", remove_preferences, prefs_ns),
    ):
        deletes = deletion_ops(target, names, field=group)
        ops.extend(deletes)
        changed.extend(f"{group}.{op.key}" for op in deletes)
    return ProfileChange(ops=ops, changed=changed)


async def apply_profile_change(store: BaseStore, change: ProfileChange) -> None:
    """Write a validated change in one batch (one round trip)."""
    if change.ops:
        await store.abatch(change.ops)


async def read_profile(store: BaseStore, user_id: str) -> Profile:
    """Read all profile fields and preferences in one batched round trip (paged if large)."""
    fields, prefs = await asearch_all(
        store, namespaces.user_profile(user_id), namespaces.user_preferences(user_id)
    )
    return Profile(
        fields={item.key: item.value.get("value") for item in fields},
        preferences={item.key: item.value.get("value") for item in prefs},
    )
