"""Requests a chat turn leaves for after itself: the latest one per key, sent in the background.

A node that awaits a request to the Agent Server makes the turn wait for it; a bare
``asyncio.create_task`` per request does not, but leaves the requests of consecutive turns
unordered (an older turn's request can reach the server after a newer one and replace
it), lets the task be garbage-collected before it runs (the loop keeps only a weak
reference) and hands it the finished run's context. ``Background`` is what a turn hands
its request to instead: one per event loop, owned by this module, not by the run.

For each key (a conversation), it keeps only the latest request and sends it once the key
has been quiet for ``settle_seconds``: after the turn that made it has finished, and not
at all when a newer turn of the same conversation replaced it first (a quick burst of
turns makes one request). Requests of one key go one at a time, in order; different keys
do not wait for each other. A request that fails is logged and dropped: the caller's next
request must cover what it would have (the memory manager reads every unread message), as
must the one lost when the process stops before it is sent.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

SETTLE_SECONDS = 1.0
"""How long a key must be quiet before its request goes: longer than a turn takes to end."""

logger = logging.getLogger(__name__)

Send = Callable[[], Awaitable[object]]


@dataclass
class _Pending:
    send: Send
    what: str
    due: float


class Background:
    """The latest request per key, each sent once its key has been quiet for a while.

    Args:
        settle_seconds: How long after the latest ``submit`` of a key its request goes.
    """

    def __init__(self, settle_seconds: float = SETTLE_SECONDS) -> None:
        self.settle_seconds = settle_seconds
        self._pending: dict[str, _Pending] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}

    def submit(self, key: str, send: Send, what: str) -> None:
        """Replace ``key``'s unsent request with ``send``; return at once.

        Args:
            key: What the request is about; a newer request of the same key replaces it.
            send: Makes the request (called later, on this event loop).
            what: What the request does, for the log line if it fails.
        """
        loop = asyncio.get_running_loop()
        self._pending[key] = _Pending(send, what, loop.time() + self.settle_seconds)
        if key not in self._senders:
            # An empty context: the sender outlives the run and must not act in its name.
            self._senders[key] = loop.create_task(self._send(key), context=contextvars.Context())

    async def idle(self) -> None:
        """Wait until every submitted request has been sent (or has failed)."""
        while self._senders:
            await asyncio.gather(*self._senders.values())

    async def _send(self, key: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (pending := self._pending.get(key)) is not None:
                if (wait := pending.due - loop.time()) > 0:
                    await asyncio.sleep(wait)  # a newer submit may push ``due`` further
                    continue
                del self._pending[key]
                try:
                    await pending.send()
                except Exception:  # the turn is over: log, the next request covers it
                    logger.warning("could not %s", pending.what, exc_info=True)
        finally:
            del self._senders[key]


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Background] = (
    weakref.WeakKeyDictionary()
)


def background() -> Background:
    """The running event loop's ``Background`` (made on first use)."""
    loop = asyncio.get_running_loop()
    if loop not in _PER_LOOP:
        _PER_LOOP[loop] = Background()
    return _PER_LOOP[loop]
