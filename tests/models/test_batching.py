"""Dynamic batching: concurrent calls share batch calls, errors reach the right callers.

What batching buys the sentence encoder is measured by ``bench/batching.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from conftest import eventually
from genweave.models.batching import BatcherClosed, DynamicBatcher


class Recorder:
    """A batch function that records its batches and squares numbers.

    ``running`` is set once a batch has started; with a ``gate``, the batch then
    waits for it, so a test can act while the batch is known to be running.
    """

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.delay, self.gate = delay, gate
        self.running = threading.Event()

    def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.running.set()
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        self.batches.append(items)
        return [ValueError(f"odd: {i}") if i < 0 else i * i for i in items]


async def test_concurrent_submits_become_few_batches() -> None:
    recorder = Recorder()
    async with DynamicBatcher(recorder, max_batch=32, max_wait=0.05) as batcher:
        results = await asyncio.gather(*(batcher.submit(i) for i in range(32)))
    assert results == [i * i for i in range(32)]
    assert len(recorder.batches) <= 2
    assert sorted(i for batch in recorder.batches for i in batch) == list(range(32))
    assert batcher.stats.items == 32 and batcher.stats.batches == len(recorder.batches)


async def test_batches_never_exceed_max_batch_and_fill_up_under_load() -> None:
    recorder = Recorder(delay=0.01)
    async with DynamicBatcher(recorder, max_batch=16, max_wait=0.01) as batcher:
        await asyncio.gather(*(batcher.submit(i) for i in range(100)))
    assert max(len(b) for b in recorder.batches) == 16 == batcher.stats.largest
    assert len(recorder.batches) <= 8
    assert batcher.stats.mean_batch > 12


async def test_a_lone_item_waits_at_most_max_wait() -> None:
    async with DynamicBatcher(Recorder(), max_batch=64, max_wait=0.02) as batcher:
        started = time.perf_counter()
        assert await batcher.submit(3) == 9
        assert time.perf_counter() - started < 1.0


async def test_a_per_item_error_fails_only_that_caller() -> None:
    async with DynamicBatcher(Recorder(), max_wait=0.02) as batcher:
        results = await asyncio.gather(
            *(batcher.submit(i) for i in (1, -2, 3)), return_exceptions=True
        )
    assert results[0] == 1 and results[2] == 9
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd: -2"


async def test_a_batch_error_fails_every_caller_of_that_batch_only() -> None:
    calls = 0

    def flaky(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model crashed")
        return items

    async with DynamicBatcher(flaky, max_wait=0.02) as batcher:
        first = await asyncio.gather(*(batcher.submit(i) for i in range(3)),
                                     return_exceptions=True)
        assert all(isinstance(r, RuntimeError) and str(r) == "model crashed" for r in first)
        assert await batcher.submit(7) == 7  # the batcher still works


async def test_a_wrong_number_of_results_is_reported_to_every_caller() -> None:
    async with DynamicBatcher(lambda items: items[:-1], max_wait=0.02) as batcher:
        results = await asyncio.gather(*(batcher.submit(i) for i in range(3)),
                                       return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert "returned 2 results for 3 items" in str(results[0])


async def test_a_caller_cancelled_while_waiting_is_left_out() -> None:
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    async with DynamicBatcher(recorder, max_batch=4, max_wait=0.0) as batcher:
        blocker = asyncio.create_task(batcher.submit(0))  # occupies the worker thread
        await eventually(recorder.running.is_set, what="the first batch running")
        waiting = [asyncio.create_task(batcher.submit(i)) for i in (1, 2, 3)]
        await asyncio.sleep(0)  # one loop pass: each task queues its item and awaits it
        waiting[1].cancel()
        gate.set()
        assert await blocker == 0
        assert await waiting[0] == 1 and await waiting[2] == 9
        with pytest.raises(asyncio.CancelledError):
            await waiting[1]
    assert 2 not in {i for batch in recorder.batches for i in batch}


async def test_a_caller_cancelled_while_its_batch_runs_does_not_disturb_it() -> None:
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    async with DynamicBatcher(recorder, max_wait=0.02) as batcher:
        tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
        await eventually(recorder.running.is_set, what="the batch running")  # on the gate
        tasks[0].cancel()
        gate.set()
        assert [await t for t in tasks[1:]] == [1, 4]
        assert tasks[0].cancelled()


async def test_close_drains_accepted_items_then_refuses_new_ones() -> None:
    batcher = DynamicBatcher(Recorder(delay=0.02), max_batch=4, max_wait=0.01)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(10)]
    await asyncio.sleep(0)  # one loop pass: every task queues its item
    await batcher.close()
    assert [t.result() for t in tasks] == [i * i for i in range(10)]
    with pytest.raises(BatcherClosed, match="closed; no more items"):
        await batcher.submit(1)


async def test_the_event_loop_stays_free_while_a_batch_runs() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    async with DynamicBatcher(Recorder(delay=0.3)) as batcher:
        await batcher.submit(1)
    task.cancel()
    assert ticks >= 10


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        DynamicBatcher(Recorder(), max_batch=0)
