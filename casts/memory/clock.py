"""Time, always timezone-aware UTC.

``Item.created_at`` is timezone-aware; comparing it with a naive ``datetime.now()`` raises.
Everything here is aware, so comparisons never mix the two.
"""

from __future__ import annotations

from datetime import UTC, datetime


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
