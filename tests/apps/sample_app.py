"""The application the core behaviour tests run under every topology and placement.

Three components, so that the presets differ: ``monolith`` puts all three in
one process, ``hybrid`` splits out ``Model`` (role ``inference``), and
``microservices`` gives each its own.  Calls go Front -> Store -> Model and
Front -> Model, so every path crosses zero, one or two hops depending on the
topology.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import msgspec
import numpy as np

from genweave import App, Ref, call_metadata, component, method
from genweave.observe.tracecontext import current_trace


class QuotaError(Exception):
    """An application-defined error, raised remotely and caught by type."""


class Answer(msgspec.Struct, frozen=True):
    question: str
    text: str
    sources: list[str]
    score: float = 1.0


@component(role="inference")
class Model:
    def __init__(self) -> None:
        self.cancelled = 0
        self.started = 0
        self.open_streams = 0

    async def echo(self, text: str) -> str:
        return text

    async def add(self, a: int, b: int = 1) -> int:
        return a + b

    async def tokens(self, text: str, delay: float = 0.0) -> AsyncIterator[str]:
        self.open_streams += 1
        try:
            for word in text.split():
                if delay:
                    await asyncio.sleep(delay)
                yield word
        finally:
            self.open_streams -= 1

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def fail(self, kind: str) -> str:
        if kind == "value":
            raise ValueError("bad value")
        if kind == "quota":
            raise QuotaError("quota of 3 exceeded")
        if kind == "key":
            raise KeyError("missing")
        return "no failure"

    async def fail_midstream(self, after: int) -> AsyncIterator[int]:
        for i in range(after):
            yield i
        raise RuntimeError(f"broke after {after} items")

    async def sleep(self, seconds: float) -> str:
        self.started += 1
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return "slept"

    async def sleep_pid(self, seconds: float) -> int:
        await asyncio.sleep(seconds)
        return os.getpid()

    @method(timeout=0.2)
    async def slow_with_timeout(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    @method(timeout=0.2)
    async def drip_with_timeout(self, n: int, delay: float) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(delay)
            yield i

    async def stats(self) -> dict[str, int]:
        return {"started": self.started, "cancelled": self.cancelled,
                "open_streams": self.open_streams}

    async def scale(self, x: np.ndarray, factor: float) -> np.ndarray:
        return x * factor

    async def blob(self, size: int) -> bytes:
        return b"x" * size

    async def size_of(self, data: bytes) -> int:
        return len(data)

    @method(idempotent=True)
    async def pid(self) -> int:
        return os.getpid()

    async def trace_id(self) -> str:
        trace = current_trace()
        return trace.trace_id if trace is not None else ""

    async def metadata(self) -> dict[str, str]:
        return dict(call_metadata())


@component
class Store:
    model: Ref[Model]

    def __init__(self) -> None:
        self.docs: dict[str, str] = {}

    async def put(self, key: str, text: str) -> int:
        self.docs[key] = await self.model.echo(text)
        return len(self.docs)

    async def search(self, query: str) -> list[str]:
        return sorted(k for k, v in self.docs.items() if query in v)


@component
class Front:
    model: Ref[Model]
    store: Ref[Store]

    async def ask(self, question: str) -> Answer:
        sources = await self.store.search(question)
        words = [w async for w in self.model.tokens(question)]
        return Answer(question, " ".join(reversed(words)), sources)

    async def shout(self, text: str, delay: float = 0.0) -> AsyncIterator[str]:
        async for word in self.model.tokens(text, delay):
            yield word.upper()

    async def relay_fail(self, kind: str) -> str:
        return await self.model.fail(kind)

    async def relay_sleep(self, seconds: float) -> str:
        return await self.model.sleep(seconds)

    async def trace_ids(self) -> list[str]:
        trace = current_trace()
        return [trace.trace_id if trace is not None else "", await self.model.trace_id()]

    async def total(self, values: list[int]) -> int:
        results = await asyncio.gather(*(self.model.add(v, 0) for v in values))
        return sum(results)


app = App("sample", [Front])
