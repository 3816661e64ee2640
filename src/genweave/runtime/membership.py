"""Which replicas of each group are ready to take calls, as this process knows it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import msgspec

__all__ = ["Membership", "MembershipView"]


class MembershipView(msgspec.Struct, frozen=True):
    """A versioned snapshot: group name -> addresses of its ready replicas."""

    version: int
    groups: dict[str, list[str]]
    down: list[str] = []
    """Groups stopped on purpose: calls to them fail at once instead of waiting."""


class Membership:
    """The live view, updated by the supervisor's announcements; callers wait on it."""

    def __init__(self, groups: Mapping[str, Sequence[str]] | None = None) -> None:
        self.version = 0
        self._groups: dict[str, tuple[str, ...]] = {
            g: tuple(a) for g, a in (groups or {}).items()
        }
        self.down: frozenset[str] = frozenset()
        self._changed = asyncio.Event()

    def endpoints(self, group: str) -> tuple[str, ...]:
        return self._groups.get(group, ())

    def update(self, view: MembershipView) -> None:
        if view.version <= self.version:
            return
        self.version = view.version
        self._groups = {g: tuple(a) for g, a in view.groups.items()}
        self.down = frozenset(view.down)
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_view(self, after: int) -> MembershipView:
        """The first snapshot whose version is above ``after`` (waits for a change)."""
        while self.version <= after:
            await self._changed.wait()
        return self.snapshot()

    def snapshot(self) -> MembershipView:
        return MembershipView(self.version, {g: list(a) for g, a in self._groups.items()},
                              sorted(self.down))

    async def wait_for(self, group: str, timeout: float) -> tuple[str, ...]:
        """The group's endpoints, waiting up to ``timeout`` seconds for one to appear."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while not self._groups.get(group):
            left = until - loop.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    await self._changed.wait()
            except TimeoutError:
                break
        return self._groups.get(group, ())
