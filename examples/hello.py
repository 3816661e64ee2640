"""The smallest useful genweave app: a front end, a greeter and a word counter.

Run it as microservices (one process per component) and make a call::

    genweave run examples.hello:app --topology microservices \\
        --call 'Frontend.hello {"name": "world"}'

The same code runs unchanged with ``--topology monolith`` or ``hybrid``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import msgspec

from genweave import App, Ref, component, method


class Greeting(msgspec.Struct, frozen=True):
    """What ``Frontend.hello`` returns: the text and which process made each part."""

    text: str
    words: int
    served_by: dict[str, int]


@component(role="inference")
class Greeter:
    """Stands in for a model: the part a team would scale or swap on its own."""

    @method(idempotent=True, timeout=5.0)
    async def greet(self, name: str) -> str:
        return f"Hello, {name}! Greetings from process {os.getpid()}."

    async def spell(self, word: str) -> AsyncIterator[str]:
        for letter in word:
            yield letter


@component
class Counter:
    @method(idempotent=True)
    async def count(self, text: str) -> int:
        return len(text.split())

    async def pid(self) -> int:
        return os.getpid()


@component
class Frontend:
    greeter: Ref[Greeter]
    counter: Ref[Counter]

    async def hello(self, name: str) -> Greeting:
        text = await self.greeter.greet(name)
        return Greeting(text, await self.counter.count(text), {
            "Frontend": os.getpid(),
            "Counter": await self.counter.pid(),
        })

    async def spell(self, word: str) -> AsyncIterator[str]:
        async for letter in self.greeter.spell(word):
            yield letter.upper()


app = App("hello", [Frontend])
