"""Typed records: the shape of each kind of memory the project stores.

Every record is a pydantic model that refuses unknown fields and converts to a plain JSON
object with ``to_value()``. ``parse_record`` turns a pydantic error into
``InvalidValueError`` naming the field, so tools can hand the model a message it can act on.

Time is always timezone-aware UTC (``utc_now``, ``as_utc``, ``iso_now``): ``Item.created_at``
is aware, and comparing it with a naive ``datetime.now()`` raises.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from casts.memory.core.errors import InvalidValueError
from casts.memory.core.values import validate_value


def utc_now() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Make a datetime aware and UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_now() -> str:
    """The current time as an ISO 8601 string with offset, the form stored in values."""
    return utc_now().isoformat()


JSONScalar = str | int | float | bool | None
SCALAR_TYPES = (str, int, float, bool, type(None))


def check_scalar_or_list(value: Any, *, field: str = "value") -> Any:
    """Profile fields and preferences hold a scalar or a flat list of scalars.

    Raises:
        InvalidValueError: Naming ``field``.
    """
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, SCALAR_TYPES) for item in items):
        raise InvalidValueError(
            field, "must be a string, number, boolean, null, or a list of those"
        )
    validate_value({"value": value}, field=field)
    return value


class Record(BaseModel):
    """Base of every stored record: strict about fields, JSON in and out."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def to_value(self) -> dict[str, Any]:
        """The JSON object to store, validated like any other value."""
        return validate_value(self.model_dump(mode="json"))


RecordT = TypeVar("RecordT", bound=Record)


def parse_record(model: type[RecordT], data: Any, *, field: str = "value") -> RecordT:
    """Validate ``data`` as ``model``.

    Raises:
        InvalidValueError: Naming the first offending field (``value.confidence``).
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise InvalidValueError(
            f"{field}.{location}" if location else field, first["msg"]
        ) from None


class ProfileField(Record):
    """One field of a user's profile (name, email, timezone, ...), stored as its own item."""

    value: Any
    updated_at: str = Field(default_factory=iso_now)
    updated_by_thread: str | None = None

    @field_validator("value")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        return check_scalar_or_list(value)


class Preference(Record):
    """One user preference, stored as its own item keyed by its name."""

    value: Any
    updated_at: str = Field(default_factory=iso_now)

    @field_validator("value")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        return check_scalar_or_list(value)


class Provenance(Record):
    """Where a formed memory came from: the thread, its messages, when, and which model."""

    thread_id: str = Field(min_length=1, max_length=200)
    message_ids: list[str] = Field(max_length=200)
    extracted_at: str = Field(default_factory=iso_now)
    model: str = Field(min_length=1, max_length=200)


def check_moment(value: str | None) -> str | None:
    """An ISO 8601 date or date-time (``2026-05-01``, ``2026-05-01T09:00:00+00:00``)."""
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2026-05-01") from None
    return value


class Memory(Record):
    """Something an agent learned about a user, searchable by its ``content``.

    The optional fields are written only when set, so a memory saved by a tool looks as it
    always did: ``occurred_at`` (when an event happened), ``provenance`` (the memory
    manager's extractions that stated it, latest last), and the supersession of a memory
    that stopped being true (``status="superseded"``, ``superseded_at``, ``superseded_by``).
    """

    content: str = Field(min_length=1, max_length=4000)
    kind: Literal["fact", "event", "preference", "instruction", "note"] = "fact"
    source: str | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    created_at: str = Field(default_factory=iso_now)
    updated_at: str = Field(default_factory=iso_now)
    occurred_at: str | None = None
    provenance: list[Provenance] | None = None
    status: Literal["current", "superseded"] | None = None
    superseded_at: str | None = None
    superseded_by: str | None = None

    _check_occurred_at = field_validator("occurred_at")(check_moment)

    def to_value(self) -> dict[str, Any]:
        """The stored object, without the optional fields that are not set."""
        value = super().to_value()
        for name in OPTIONAL_MEMORY_FIELDS:
            if value.get(name) is None:
                value.pop(name, None)
        return value


OPTIONAL_MEMORY_FIELDS = ("occurred_at", "provenance", "status", "superseded_at", "superseded_by")


class Fact(Record):
    """A claim in a knowledge topic with its provenance, as every reader sees it.

    Not stored as one item: it is assembled from the claim's ``FactEntry`` and its
    ``Statement`` items (see ``casts.memory.kinds.knowledge``), so concurrent confirmations never
    overwrite each other. ``source`` is the first source; ``sources`` lists every distinct
    source that stated the claim, in order; ``confirmations`` counts the statements;
    ``confidence`` is the highest and ``observed_at`` the latest of theirs. A superseded
    fact has ``status="superseded"``, ``superseded_by`` and ``superseded_at``; the fact that
    replaced it names it in ``supersedes``.
    """

    content: str = Field(min_length=1, max_length=4000)
    topic: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    confidence: float = Field(ge=0.0, le=1.0)
    observed_at: str = Field(default_factory=iso_now)
    status: Literal["current", "superseded"] = "current"
    superseded_by: str | None = None
    superseded_at: str | None = None
    supersedes: str | None = None
    confirmations: int = Field(default=1, ge=1)
    sources: list[str] = Field(default_factory=list)


class FactEntry(Record):
    """The stored item of a claim: what it says and its place in the topic's history.

    Written when the claim is first stated and when it supersedes or is superseded; a
    confirmation never rewrites it. ``content`` holds the claim so the semantic index
    embeds it.
    """

    content: str = Field(min_length=1, max_length=4000)
    topic: str = Field(min_length=1, max_length=200)
    status: Literal["current", "superseded"] = "current"
    superseded_by: str | None = None
    superseded_at: str | None = None
    supersedes: str | None = None


class Statement(Record):
    """One statement of a claim by one source, stored as an item of its own.

    Each statement gets a fresh key, so statements made at the same time are all kept.
    """

    source: str = Field(min_length=1, max_length=500)
    confidence: float = Field(ge=0.0, le=1.0)
    observed_at: str
    stated_at: str = Field(default_factory=iso_now)


class WorkspaceEntry(Record):
    """A piece of team context; every write records who wrote it and when."""

    value: dict[str, Any]
    updated_by: str
    updated_at: str = Field(default_factory=iso_now)

    @field_validator("value")
    @classmethod
    def _json_value(cls, value: dict[str, Any]) -> dict[str, Any]:
        return validate_value(value, field="value")


class TeamMember(Record):
    """Membership of one user in one team."""

    role: Literal["owner", "member"] = "member"
    added_by: str
    added_at: str = Field(default_factory=iso_now)


class ScratchEntry(Record):
    """Temporary data of one session; ``expires_at`` lets cleanup work where TTL does not."""

    data: dict[str, Any]
    created_at: str = Field(default_factory=iso_now)
    expires_at: str | None = None

    @field_validator("data")
    @classmethod
    def _json_data(cls, data: dict[str, Any]) -> dict[str, Any]:
        return validate_value(data, field="data")
