"""The built-in backend and its continuous-batching engine, on the real TinyLM."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from generation_helpers import collect

from conftest import eventually
from genweave.models.generation import (
    CHAT_STOPS,
    BackendClosed,
    BackendOverloaded,
    GenerationParams,
    format_chat,
)
from genweave.models.generation.builtin_impl import BuiltinBackend
from genweave.models.tinylm import TinyLM

PROMPTS = ["", "The", "A for loop iterates over", "Return the number of items in the container."]
LONG = GenerationParams(max_tokens=100_000, temperature=0.0)
"""Greedy TinyLM loops on a phrase instead of ending, so these requests run until stopped."""


@pytest.fixture(scope="module")
def lm() -> TinyLM:
    return TinyLM.load()


@pytest.fixture
async def backend() -> AsyncIterator[BuiltinBackend]:
    backend = BuiltinBackend.load(max_batch_size=8)
    yield backend
    await backend.close()
    assert backend.model.live_sequences == 0


def params(seed: int, max_tokens: int = 40, **extra: object) -> GenerationParams:
    return GenerationParams(max_tokens=max_tokens, temperature=0.9, top_p=0.95, seed=seed,
                            **extra)  # type: ignore[arg-type]


async def test_streams_text_then_finish_reason_and_usage(backend: BuiltinBackend) -> None:
    text, last = await collect(backend.generate("The for statement", params(0)))
    assert text
    assert last.usage is not None
    assert last.usage.prompt_tokens == len("The for statement")
    assert 1 <= last.usage.completion_tokens <= 40
    reason = "length" if last.usage.completion_tokens == 40 else "stop"
    assert last.finish_reason == reason


async def test_greedy_runs_to_max_tokens(backend: BuiltinBackend) -> None:
    text, last = await collect(backend.generate("The", GenerationParams(max_tokens=25,
                                                                         temperature=0)))
    assert last.finish_reason == "length"
    assert last.usage is not None and last.usage.completion_tokens == 25
    assert len(text.encode()) <= 25


async def test_concurrent_requests_get_what_each_gets_alone(
    backend: BuiltinBackend, lm: TinyLM
) -> None:
    together = await asyncio.gather(
        *(collect(backend.generate(p, params(i))) for i, p in enumerate(PROMPTS))
    )
    for i, (prompt, (text, _)) in enumerate(zip(PROMPTS, together, strict=True)):
        alone = lm.generate(prompt, max_tokens=40, temperature=0.9, top_p=0.95, seed=i)
        assert text == alone
    assert backend.engine.stats.steps < sum(d.usage.completion_tokens  # type: ignore[union-attr]
                                            for _, d in together)


async def test_unbatched_backend_gives_the_same_text_one_request_at_a_time(lm: TinyLM) -> None:
    async with BuiltinBackend(lm, max_batch_size=1) as unbatched:
        results = await asyncio.gather(
            *(collect(unbatched.generate(p, params(i))) for i, p in enumerate(PROMPTS))
        )
        stats = unbatched.engine.stats
    assert stats.steps == stats.tokens == sum(d.usage.completion_tokens  # type: ignore[union-attr]
                                              for _, d in results)
    assert [t for t, _ in results] == [
        lm.generate(p, max_tokens=40, temperature=0.9, top_p=0.95, seed=i)
        for i, p in enumerate(PROMPTS)
    ]


async def test_requests_join_a_running_batch(backend: BuiltinBackend) -> None:
    first = backend.generate("The", LONG)
    async with contextlib.aclosing(first):
        await anext(first)
        joined_at = backend.engine.stats.steps
        text, _ = await collect(backend.generate("A list", params(3, max_tokens=10)))
        assert text
        assert backend.engine.stats.running == 1  # the first one is still going
        assert backend.engine.stats.steps - joined_at < 20  # it did not wait for the first


async def test_stop_strings_cut_the_text_and_are_not_shown(backend: BuiltinBackend) -> None:
    full, _ = await collect(backend.generate("The for statement", params(0, max_tokens=80)))
    assert len(full) > 20
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    text, last = await collect(backend.generate("The for statement",
                                                params(0, max_tokens=80, stop=[stop, "@@@@"])))
    assert text == full[: full.find(stop)]
    assert last.finish_reason == "stop"


async def test_aclose_takes_the_request_out_of_the_batch(backend: BuiltinBackend) -> None:
    engine, model = backend.engine, backend.model
    kept, dropped = backend.generate("The", LONG), backend.generate("A tuple", LONG)
    async with contextlib.aclosing(kept):
        await anext(kept)
        await anext(dropped)
        assert model.live_sequences == 2
        await dropped.aclose()
        before = engine.stats
        await eventually(lambda: engine.stats.steps >= before.steps + 3)
        after = engine.stats
        assert model.live_sequences == 1  # the dropped row went back to the pool
        assert (after.running, after.cancelled) == (1, 1)
        # From the step after the aclose on, only the kept request made tokens.
        assert after.tokens - before.tokens <= (after.steps - before.steps) + 1
    await engine.wait_idle()
    assert model.live_sequences == 0
    assert not engine.busy


async def test_a_cancelled_task_stops_its_generation(backend: BuiltinBackend) -> None:
    async def consume() -> None:
        async for _ in backend.generate("While", LONG):
            pass

    task = asyncio.create_task(consume())
    await eventually(lambda: backend.engine.stats.tokens > 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await backend.engine.wait_idle()
    assert backend.model.live_sequences == 0
    assert backend.engine.stats.cancelled == 1


async def test_a_waiting_request_can_leave_before_it_starts(lm: TinyLM) -> None:
    async with BuiltinBackend(lm, max_batch_size=1, max_waiting=1) as one:
        running, waiting = one.generate("The", LONG), one.generate("A", LONG)
        await anext(running)
        pending = asyncio.create_task(anext(waiting))
        await eventually(lambda: one.engine.stats.waiting == 1)
        with pytest.raises(BackendOverloaded, match="max_waiting=1"):
            await anext(one.generate("Full", LONG))
        pending.cancel()
        await eventually(lambda: one.engine.stats.waiting == 0)
        assert one.engine.stats.admitted == 1
        await running.aclose()
        await one.engine.wait_idle()
    assert lm.live_sequences == 0


async def test_closing_the_backend_ends_streams_in_flight(lm: TinyLM) -> None:
    closing = BuiltinBackend(lm)
    stream = closing.generate("The", LONG)
    await anext(stream)
    await closing.close()
    with pytest.raises(BackendClosed, match="closed"):
        while True:
            await anext(stream)
    with pytest.raises(BackendClosed):
        await anext(closing.generate("Again", LONG))
    assert lm.live_sequences == 0


async def test_model_steps_run_off_the_event_loop_thread(backend: BuiltinBackend) -> None:
    threads: set[str] = set()
    runner_step = backend.engine._runner.step

    def spy(jobs: list[object]) -> list[int]:
        threads.add(threading.current_thread().name)
        return runner_step(jobs)  # type: ignore[arg-type]

    backend.engine._runner.step = spy  # type: ignore[method-assign]
    await collect(backend.generate("The", params(1, max_tokens=5)))
    assert threads and threading.current_thread().name not in threads


async def test_chat_formats_a_transcript_and_stops_at_the_next_turn(
    backend: BuiltinBackend,
) -> None:
    messages = [SimpleNamespace(role="system", content="Answer briefly."),
                SimpleNamespace(role="user", content="What does the for statement do?")]
    text, last = await collect(backend.chat(messages, params(2, max_tokens=120)))
    assert last.usage is not None
    assert last.usage.prompt_tokens == len(format_chat(messages).encode())
    assert not any(stop in text for stop in CHAT_STOPS)


async def test_count_tokens_counts_utf8_bytes(backend: BuiltinBackend) -> None:
    assert await backend.count_tokens("hé") == 3
    assert backend.name == "tinylm (builtin)"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_tokens": 0}, "max_tokens must be at least 1"),
        ({"temperature": -1.0}, "temperature must be 0 or more"),
        ({"top_p": 0.0}, r"top_p must lie in \(0, 1\]"),
        ({"stop": [""]}, "stop strings must not be empty"),
        ({"stop": ["x"] * 9}, "at most 8 stop strings"),
    ],
)
def test_params_are_checked(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GenerationParams(**fields)  # type: ignore[arg-type]
