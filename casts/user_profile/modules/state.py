"""State of the user-profile cast, with separate input and output schemas for Studio."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict


class ProfileInput(TypedDict, total=False):
    """What a run may change; leave everything empty to just read the profile.

    Attributes:
        set_fields: Profile fields to set, e.g. {"name": "Ada", "timezone": "Europe/London"}.
        set_preferences: Preferences to set, e.g. {"theme": "dark"}.
        remove_fields: Names of profile fields to delete.
        remove_preferences: Names of preferences to delete.
    """

    set_fields: dict[str, Any]
    set_preferences: dict[str, Any]
    remove_fields: list[str]
    remove_preferences: list[str]


class ProfileOutput(TypedDict, total=False):
    """The profile after the run, and what the run changed."""

    profile: dict[str, Any]
    preferences: dict[str, Any]
    changed: list[str]


class ProfileState(ProfileInput, ProfileOutput):
    """Everything the nodes read and write.

    The thread keeps its state between runs, so the request keys are emptied once applied:
    a later run on the same thread must not apply them again.
    """


EMPTY_REQUEST: ProfileInput = {
    "set_fields": {},
    "set_preferences": {},
    "remove_fields": [],
    "remove_preferences": [],
}
