"""Helpers shared by the text-generation backend tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from genweave.models.generation import TextDelta


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
