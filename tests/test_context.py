"""What travels with a call: deadlines that only ever shrink, and metadata scoped to a block."""

from __future__ import annotations

import asyncio

import pytest

from genweave import DeadlineExceeded, call_metadata, deadline, with_metadata
from genweave.context import (
    current_deadline,
    outgoing_deadline,
    outgoing_metadata,
    remaining,
    set_incoming,
)


async def test_a_deadline_bounds_the_work_inside_it() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(DeadlineExceeded, match="deadline of 0.05s exceeded"):
        async with deadline(0.05):
            await asyncio.sleep(5)
    assert loop.time() - start < 1.0
    assert remaining() is None  # gone once the block is left


async def test_a_nested_deadline_never_extends_the_outer_one() -> None:
    async with deadline(0.5):
        outer = remaining()
        async with deadline(10.0):
            inner = remaining()
        async with deadline(0.1):
            tighter = remaining()
    assert outer is not None and inner is not None and tighter is not None
    assert inner <= outer <= 0.5 and tighter <= 0.1


async def test_an_outgoing_call_gets_the_sooner_of_its_timeout_and_the_deadline() -> None:
    assert outgoing_deadline(None) is None
    now = asyncio.get_running_loop().time()
    own = outgoing_deadline(2.0)
    assert own is not None and now + 2.0 <= own < now + 2.5
    async with deadline(0.5):
        at = current_deadline.get()
        assert outgoing_deadline(None) == at
        assert outgoing_deadline(60.0) == at
        sooner = outgoing_deadline(0.1)
        assert sooner is not None and at is not None and sooner < at


async def test_metadata_applies_inside_its_block_and_nests() -> None:
    assert dict(call_metadata()) == {}
    with with_metadata(user="ada"):
        with with_metadata(session="s1"):
            assert dict(call_metadata()) == {"user": "ada", "session": "s1"}
            assert outgoing_metadata() == {"user": "ada", "session": "s1"}
        assert dict(call_metadata()) == {"user": "ada"}
    assert dict(call_metadata()) == {}


async def test_metadata_follows_tasks_started_inside_the_block() -> None:
    async def seen() -> dict[str, str]:
        return dict(call_metadata())

    with with_metadata(user="ada"):
        task = asyncio.create_task(seen())
    assert await task == {"user": "ada"}


async def test_an_incoming_call_shows_its_caller_and_metadata() -> None:
    async def served() -> dict[str, str]:
        set_incoming("Assistant", {"user": "ada"})
        return dict(call_metadata())

    assert await asyncio.create_task(served()) == {"user": "ada", "caller": "Assistant"}
    assert dict(call_metadata()) == {}  # installed in the serving task only


def test_call_metadata_cannot_be_changed_through_its_view() -> None:
    view = call_metadata()
    with pytest.raises(TypeError):
        view["user"] = "mallory"  # type: ignore[index]
