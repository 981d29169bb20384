"""``casts.memory.agent.background``: what a turn hands over is sent later, only the latest per key.

Requests are recorded by the ``send`` callables the tests give (the real part, the Agent
Server, is in tests/test_formation_server.py). Settle times are short; the tests wait on
events and ``idle()``, never on durations.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from casts.memory.agent.background import Background

SETTLE = 0.05
where = contextvars.ContextVar("where", default="outside any run")


def recorder(sent: list[str]):
    def request(label: str):
        async def send() -> None:
            sent.append(label)

        return send

    return request


async def test_submit_returns_before_the_request_is_sent():
    sent: list[str] = []
    later = Background(SETTLE)
    later.submit("conversation", recorder(sent)("turn 1"), "send it")
    assert sent == []  # the turn goes on; nothing has been sent yet
    await later.idle()
    assert sent == ["turn 1"]


async def test_a_newer_request_replaces_the_unsent_one_of_its_key_only():
    sent: list[str] = []
    request = recorder(sent)
    later = Background(SETTLE)
    for turn in (1, 2, 3):
        later.submit("ada", request(f"ada {turn}"), "send it")
    later.submit("bob", request("bob 1"), "send it")
    await later.idle()
    assert sorted(sent) == ["ada 3", "bob 1"]


async def test_one_keys_requests_go_one_at_a_time_in_order():
    sent: list[str] = []
    first_started, release = asyncio.Event(), asyncio.Event()

    async def slow_first() -> None:
        first_started.set()
        await release.wait()
        sent.append("turn 1")

    later = Background(SETTLE)
    later.submit("ada", slow_first, "send it")
    await first_started.wait()
    later.submit("ada", recorder(sent)("turn 2"), "send it")
    await asyncio.sleep(SETTLE * 4)  # turn 2 is due, but turn 1 has not been answered
    assert sent == []
    release.set()
    await later.idle()
    assert sent == ["turn 1", "turn 2"]


async def test_a_failed_request_is_logged_and_the_next_one_still_goes(caplog):
    sent: list[str] = []

    async def failing() -> None:
        raise ConnectionError("server gone")

    later = Background(SETTLE)
    with caplog.at_level(logging.WARNING, logger="casts.memory.agent.background"):
        later.submit("ada", failing, "schedule memory formation")
        await later.idle()
        later.submit("ada", recorder(sent)("turn 2"), "schedule memory formation")
        await later.idle()
    assert sent == ["turn 2"]
    (record,) = caplog.records
    assert record.getMessage() == "could not schedule memory formation"
    assert "server gone" in caplog.text


async def test_the_request_does_not_run_in_the_submitting_runs_context():
    seen: list[str] = []

    async def send() -> None:
        seen.append(where.get())

    where.set("inside the chat run")
    later = Background(SETTLE)
    later.submit("ada", send, "send it")
    await later.idle()
    assert seen == ["outside any run"]


@pytest.mark.parametrize("bursts", [1, 3])
async def test_submitting_again_after_a_send_sends_again(bursts):
    sent: list[str] = []
    later = Background(SETTLE)
    for burst in range(bursts):
        later.submit("ada", recorder(sent)(f"burst {burst}"), "send it")
        await later.idle()
    assert sent == [f"burst {burst}" for burst in range(bursts)]
