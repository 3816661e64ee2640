"""The callee's dispatcher: draining stays up, refusing, until callers have stopped sending."""

from __future__ import annotations

import asyncio

from genweave.transport.server import Dispatcher


async def test_drain_waits_for_a_quiet_period_after_the_last_refusal() -> None:
    dispatcher = Dispatcher("app", "g/0", {})
    loop = asyncio.get_running_loop()

    start = loop.time()
    assert await dispatcher.drain(grace=5.0, quiet=0.1)
    assert 0.1 <= loop.time() - start < 0.5

    async def late_caller() -> None:
        await asyncio.sleep(0.08)
        dispatcher.refused_at = loop.time()  # what a refused call records

    start = loop.time()
    caller = asyncio.create_task(late_caller())
    assert await dispatcher.drain(grace=5.0, quiet=0.1)
    await caller
    assert loop.time() - start >= 0.18


async def test_drain_never_outlasts_its_grace() -> None:
    dispatcher = Dispatcher("app", "g/0", {})
    dispatcher.enter()  # a call that never finishes
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert not await dispatcher.drain(grace=0.2, quiet=1.0)
    assert loop.time() - start < 0.5
