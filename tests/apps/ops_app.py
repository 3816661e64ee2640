"""An app for the operations tests: a configurable inference component behind a caller.

``Painter`` reports the settings it runs with, so tests can tell versions and
variants apart; ``SparePainter`` has the same interface, to serve as a fallback.
Calls go Studio -> Painter.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import msgspec

from genweave import App, Ref, call_metadata, component, method


class Brush(msgspec.Struct, frozen=True):
    label: str = "v1"
    fail_on_start: bool = False


class Identity(msgspec.Struct, frozen=True):
    label: str
    pid: int


@component(role="inference", config=Brush)
class Painter:
    config: Brush

    async def on_start(self) -> None:
        if self.config.fail_on_start:
            raise RuntimeError(f"version {self.config.label} cannot start")

    async def paint(self, prompt: str) -> str:
        return f"{self.config.label}:{prompt}"

    @method(idempotent=True)
    async def whoami(self) -> Identity:
        return Identity(self.config.label, os.getpid())

    async def work(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return self.config.label

    async def strokes(self, n: int, delay: float) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(delay)
            yield f"{self.config.label}:{i}"

    async def user(self) -> str:
        return call_metadata().get("user", "")


@component
class SparePainter:
    async def paint(self, prompt: str) -> str:
        return f"spare:{prompt}"

    @method(idempotent=True)
    async def whoami(self) -> Identity:
        return Identity("spare", os.getpid())

    async def work(self, seconds: float) -> str:
        return "spare"

    async def strokes(self, n: int, delay: float) -> AsyncIterator[str]:
        for i in range(n):
            yield f"spare:{i}"

    async def user(self) -> str:
        return "spare"


@component
class Studio:
    painter: Ref[Painter]

    async def paint(self, prompt: str) -> str:
        return await self.painter.paint(prompt)

    @method(idempotent=True)
    async def whoami(self) -> Identity:
        return await self.painter.whoami()

    async def work(self, seconds: float) -> str:
        return await self.painter.work(seconds)

    async def strokes(self, n: int, delay: float = 0.0) -> AsyncIterator[str]:
        async for stroke in self.painter.strokes(n, delay):
            yield stroke


app = App("ops", [Studio, SparePainter])
