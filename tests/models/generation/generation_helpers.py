"""Helpers shared by the text-generation backend tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

from genweave.models.generation import TextDelta

POLL_INTERVAL = 0.002


async def collect(stream: AsyncGenerator[TextDelta, None]) -> tuple[str, TextDelta]:
    """All the text of a stream, and its last delta (with finish_reason and usage)."""
    parts: list[str] = []
    last: TextDelta | None = None
    async with contextlib.aclosing(stream) as deltas:
        async for delta in deltas:
            parts.append(delta.text)
            last = delta
    assert last is not None and last.finish_reason is not None and last.usage is not None
    assert all(d for d in parts[:-1]), "only the last delta may be empty"
    return "".join(parts), last


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll until ``condition`` holds (the test timeout bounds the wait)."""
    while not condition():
        await asyncio.sleep(POLL_INTERVAL)
