"""Session scratch: temporary data of one session, gone when the session ends or expires.

Data lives in ``namespaces.session_scratch(user_id, session_id)``; the session id is the
run's ``session_id`` (by default its thread id). Expiry works on every backend:

- every entry records ``expires_at`` in its value (``ScratchEntry``), so cleanup and reads
  can honour it where the backend has no TTL (InMemoryStore);
- where the backend supports TTL (``store.supports_ttl``, PostgreSQL) the item is also put
  with ``ttl`` (minutes), so the store's sweeper deletes it without any cleanup job.

Reads here do not refresh the TTL, so the backend's expiry and ``expires_at`` stay the
same; write an entry again to extend it. ``end_session`` deletes everything of a session;
``cleanup_older_than`` deletes whatever is older than N days or past its ``expires_at``,
after reading every item (``queries.asearch_all``: ``search`` alone stops after 10).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from langgraph.store.base import BaseStore, PutOp, SearchItem

from casts.memory.core import namespaces
from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError
from casts.memory.core.namespaces import Namespace
from casts.memory.core.records import ScratchEntry, as_utc, parse_record, utc_now
from casts.memory.core.values import check_entries, deletion_ops, validate_key
from casts.memory.store.reading import asearch_all

DEFAULT_TTL_MINUTES = 24 * 60
MAX_TTL_MINUTES = 30 * 24 * 60
DELETE_CHUNK = 1000
SESSION_ROOT: Namespace = namespaces.session_root()


@dataclass
class CleanupReport:
    """What a cleanup found and (unless a dry run) deleted.

    Attributes:
        matched: ``(namespace, key)`` of every item old enough or expired.
        deleted: How many items were deleted (0 in a dry run).
        scanned: How many items were examined.
    """

    matched: list[tuple[Namespace, str]] = field(default_factory=list)
    deleted: int = 0
    scanned: int = 0


def check_ttl(ttl_minutes: Any, *, field: str = "ttl_minutes") -> float:
    """A TTL is a positive number of minutes, at most 30 days.

    Raises:
        InvalidValueError: Naming ``field``.
    """
    if isinstance(ttl_minutes, bool) or not isinstance(ttl_minutes, (int, float)):
        raise InvalidValueError(field, "must be a number of minutes")
    if not math.isfinite(ttl_minutes) or not 0 < ttl_minutes <= MAX_TTL_MINUTES:
        raise InvalidValueError(field, f"must be more than 0 and at most {MAX_TTL_MINUTES}")
    return float(ttl_minutes)


def plan_scratch_write(
    store: BaseStore,
    user_id: str,
    session_id: str,
    entries: Mapping[str, Any] | None = None,
    remove: Sequence[str] | None = None,
    *,
    ttl_minutes: float = DEFAULT_TTL_MINUTES,
    now: datetime | None = None,
) -> list[PutOp]:
    """Validate every entry and removal before anything is written.

    Raises:
        InvalidValueError: Naming the entry (``entries.draft.data``, ``remove[0]``).
    """
    ttl = check_ttl(ttl_minutes)
    now = as_utc(now or utc_now())
    expires_at = (now + timedelta(minutes=ttl)).isoformat()
    namespace = namespaces.session_scratch(user_id, session_id)
    ops: list[PutOp] = []
    for key, data in check_entries(entries).items():
        where = f"entries.{key}"
        validate_key(key, field=where)
        record = parse_record(
            ScratchEntry,
            {"data": data, "created_at": now.isoformat(), "expires_at": expires_at},
            field=where,
        )
        ops.append(
            PutOp(
                namespace,
                key,
                record.to_value(),
                index=False,
                ttl=ttl if store.supports_ttl else None,
            )
        )
    return [*ops, *deletion_ops(namespace, remove)]


async def write_scratch(
    store: BaseStore,
    user_id: str,
    session_id: str,
    entries: Mapping[str, Any] | None = None,
    remove: Sequence[str] | None = None,
    *,
    ttl_minutes: float = DEFAULT_TTL_MINUTES,
    now: datetime | None = None,
) -> list[str]:
    """Set and remove scratch entries of one session in one batch.

    Returns:
        The keys written or removed.

    Raises:
        InvalidValueError: A bad entry or TTL; nothing is written.
    """
    ops = plan_scratch_write(
        store, user_id, session_id, entries, remove, ttl_minutes=ttl_minutes, now=now
    )
    if ops:
        await store.abatch(ops)
    return [op.key for op in ops]


async def _scan(store: BaseStore, prefix: Namespace) -> list[SearchItem]:
    """Every item under ``prefix``, each once, without refreshing TTLs."""
    (items,) = await asearch_all(store, prefix, refresh_ttl=False)
    return items


def _expired(item: SearchItem, now: datetime) -> bool:
    raw = item.value.get("expires_at") if isinstance(item.value, dict) else None
    if not isinstance(raw, str):
        return False
    try:
        return as_utc(datetime.fromisoformat(raw)) <= now
    except ValueError:
        return False


async def read_scratch(
    store: BaseStore, user_id: str, session_id: str, *, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Every live entry of a session: key -> {data, created_at, expires_at}.

    Entries past their ``expires_at`` are left out on every backend, so InMemoryStore (no
    TTL) answers like PostgreSQL (whose sweeper may not have run yet).
    """
    now = as_utc(now or utc_now())
    items = await _scan(store, namespaces.session_scratch(user_id, session_id))
    return {item.key: item.value for item in items if not _expired(item, now)}


async def _delete(store: BaseStore, targets: list[tuple[Namespace, str]]) -> int:
    for start in range(0, len(targets), DELETE_CHUNK):
        chunk = targets[start : start + DELETE_CHUNK]
        await store.abatch([PutOp(namespace, key, None) for namespace, key in chunk])
    return len(targets)


async def end_session(store: BaseStore, user_id: str, session_id: str) -> int:
    """Delete everything of one session (every item, read first); returns how many."""
    items = await _scan(store, namespaces.session_scratch(user_id, session_id))
    return await _delete(store, [(tuple(item.namespace), item.key) for item in items])


async def cleanup_older_than(
    store: BaseStore,
    days: float,
    *,
    prefix: Namespace = SESSION_ROOT,
    now: datetime | None = None,
    dry_run: bool = False,
) -> CleanupReport:
    """Delete session data created more than ``days`` ago or past its ``expires_at``.

    Reads *every* item under ``prefix`` (each once) before deleting anything. Times are
    compared timezone-aware: ``item.created_at`` as the store reports it and ``expires_at``
    from the value; a naive ``now`` is taken as UTC.
    Works on backends without TTL (InMemoryStore) as on PostgreSQL.

    Args:
        store: The project's store.
        days: Age limit in days (0 deletes everything under ``prefix``).
        prefix: Where to clean; must lie under ``namespaces.session_root()`` so a cleanup
            can never reach user, team or global memory.
        now: The reference time; the current time when omitted.
        dry_run: Report what would be deleted without deleting it.

    Raises:
        InvalidValueError: ``days`` is not a non-negative number.
        InvalidNamespaceError: ``prefix`` is not under the session root.
    """
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days):
        raise InvalidValueError("days", "must be a number of days")
    if days < 0:
        raise InvalidValueError("days", "must not be negative")
    prefix = namespaces.validate_namespace(prefix, prefix=True)
    if prefix[: len(SESSION_ROOT)] != SESSION_ROOT:
        raise InvalidNamespaceError(
            f"prefix {prefix!r} is not under the session root {SESSION_ROOT!r}; cleanup only "
            "deletes temporary session data"
        )
    now = as_utc(now or utc_now())
    cutoff = now - timedelta(days=days)
    items = await _scan(store, prefix)
    matched = [
        (tuple(item.namespace), item.key)
        for item in items
        if as_utc(item.created_at) < cutoff or _expired(item, now)
    ]
    deleted = 0 if dry_run else await _delete(store, matched)
    return CleanupReport(matched=matched, deleted=deleted, scanned=len(items))
