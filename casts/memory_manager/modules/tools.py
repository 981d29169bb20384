"""What the model fills in: the structured outputs of the memory manager.

The manager gives the model no tools to call; it asks for these schemas through
``model.with_structured_output`` (tool calling underneath), so the model's answer is data the
manager validates before anything is written. A schema that fails validation rejects the
whole answer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from casts.memory import check_moment

CandidateKind = Literal["fact", "preference", "event", "profile"]
Action = Literal["add", "confirm", "update", "supersede"]


class Candidate(BaseModel):
    """One thing worth remembering about the user, as the conversation stated it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: CandidateKind = Field(
        description="fact about the user, a preference, an event (with occurred_at), or a "
        "profile field (with field and value)"
    )
    content: str = Field(
        min_length=1, max_length=4000, description="the memory, one sentence about the user"
    )
    message_ids: list[str] = Field(
        min_length=1, description="ids of the messages that state it, as shown in the transcript"
    )
    occurred_at: str | None = Field(
        default=None, description="for an event: when it happens or happened, ISO 8601"
    )
    field: str | None = Field(
        default=None, max_length=200, description="for a profile field: its name, e.g. name"
    )
    value: str | int | float | bool | None = Field(
        default=None, description="for a profile field: its value"
    )

    _check_occurred_at = field_validator("occurred_at")(check_moment)


class Extraction(BaseModel):
    """Everything worth remembering in the new messages (an empty list when nothing is)."""

    candidates: list[Candidate] = Field(max_length=50)


class Decision(BaseModel):
    """What to do with one candidate, given the user's related memories."""

    model_config = ConfigDict(extra="forbid")

    candidate: int = Field(ge=0, description="the candidate's number")
    action: Action = Field(
        description="add a new memory; confirm the memory `key` (same fact again); update "
        "the memory `key` (a correction); supersede the memory `key` (it stopped being true)"
    )
    key: str | None = Field(
        default=None, description="for confirm, update, supersede: the related memory's key"
    )


class Decisions(BaseModel):
    """One decision per memory candidate."""

    decisions: list[Decision] = Field(max_length=50)
