"""Waiting for PostgreSQL's TTL without guessing how long it takes.

PostgreSQL computes ``expires_at`` from its own clock (``NOW()``), so a test cannot move it;
instead it writes a TTL of one second and sweeps until the item is gone, up to a deadline.
A slow machine only makes the test wait longer; it never makes it pass or fail by luck.
"""

from __future__ import annotations

import asyncio
import time

from casts.memory.core.namespaces import Namespace
from casts.memory.store.guarded import GuardedStore

ONE_SECOND_IN_MINUTES = 1 / 60
GIVE_UP_S = 60.0


async def sweep_until_gone(store: GuardedStore, namespace: Namespace, key: str) -> None:
    """Run the backend's TTL sweep until ``key`` is no longer stored.

    Reads with ``refresh_ttl=False``: a read that refreshed the TTL would keep the item alive.
    The project's store does not hide expired items, so "gone" means the sweep deleted it.

    Raises:
        AssertionError: The item was still stored after ``GIVE_UP_S`` seconds.
    """
    deadline = time.monotonic() + GIVE_UP_S
    while True:
        await store.inner.sweep_ttl()
        if await store.aget(namespace, key, refresh_ttl=False) is None:
            return
        assert time.monotonic() < deadline, f"{key!r} outlived its TTL by {GIVE_UP_S}s"
        await asyncio.sleep(0.1)
