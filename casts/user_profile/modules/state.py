"""State of the user-profile cast, with separate input and output schemas for Studio."""

from __future__ import annotations

from typing import Annotated, Any

from langgraph.channels.ephemeral_value import EphemeralValue
from typing_extensions import TypedDict


class ProfileInput(TypedDict, total=False):
    """What a run may change; leave everything empty to just read the profile.

    Attributes:
        set_fields: Profile fields to set, e.g. {"name": "Ada", "timezone": "Europe/London"}.
        set_preferences: Preferences to set, e.g. {"theme": "dark"}.
        remove_fields: Names of profile fields to delete.
        remove_preferences: Names of preferences to delete.
    """

    set_fields: Annotated[dict[str, Any], EphemeralValue(dict[str, Any])]
    set_preferences: Annotated[dict[str, Any], EphemeralValue(dict[str, Any])]
    remove_fields: Annotated[list[str], EphemeralValue(list[str])]
    remove_preferences: Annotated[list[str], EphemeralValue(list[str])]


class ProfileOutput(TypedDict, total=False):
    """The profile after the run, and what the run changed."""

    profile: dict[str, Any]
    preferences: dict[str, Any]
    changed: list[str]


class ProfileState(ProfileInput, ProfileOutput):
    """Everything the nodes read and write.

    The thread keeps its state between runs. The request keys are ``EphemeralValue``
    channels: they live only for the run that sent them -- even one that fails -- so a later
    run on the same thread never applies an old request again.
    """
