"""The asyncio helpers: the one event-loop choice, and closing a stream left early."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from genweave._aio import closing_stream, loop_factory


def test_the_loop_is_uvloops_where_it_is_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory() is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)


def test_without_uvloop_asyncio_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # an import of it now fails
    assert loop_factory() is None


async def test_leaving_a_stream_early_closes_it_at_once() -> None:
    closed = asyncio.Event()

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            closed.set()

    async with closing_stream(numbers()) as stream:
        async for n in stream:
            if n == 2:
                break
    assert closed.is_set()


async def test_a_stream_that_cannot_be_closed_is_left_alone() -> None:
    class Plain:
        def __aiter__(self) -> Plain:
            return self

        async def __anext__(self) -> int:
            raise StopAsyncIteration

    async with closing_stream(Plain()) as stream:
        assert [n async for n in stream] == []
