"""Small asyncio helpers shared across the package: the event loop choice, stream closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

__all__ = ["closing_stream", "loop_factory"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (faster I/O), else asyncio's default.

    Every entry point (the CLI, a worker process, ``python -m genweave.app``) runs
    its loop through this one choice::

        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(main())
    """
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


@asynccontextmanager
async def closing_stream(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Like ``contextlib.aclosing`` for any async iterator: close it (if it can be
    closed) when the block ends, so leaving early stops the producer at once rather
    than when the iterator is garbage-collected."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
