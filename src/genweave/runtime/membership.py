"""Which replicas of each group are ready to take calls, as this process knows it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import msgspec

from genweave.topology import PRIMARY_VARIANT, Group

__all__ = ["PRIMARY", "Membership", "MembershipView", "Split", "group_splits", "replica_addresses"]

PRIMARY: Final = PRIMARY_VARIANT
"""The name of a group's own version among its variants."""


class Split(msgspec.Struct, frozen=True):
    """One variant of a group: its share of calls and its ready replicas."""

    variant: str
    weight: float
    """Percent of calls (0-100): served by it, or for a shadow variant, copied to it."""
    addresses: list[str]
    shadow: bool = False


class MembershipView(msgspec.Struct, frozen=True):
    """A versioned snapshot: group name -> addresses of its ready replicas."""

    version: int
    groups: dict[str, list[str]]
    down: list[str] = []
    """Groups stopped on purpose: calls to them fail at once instead of waiting."""
    splits: dict[str, list[Split]] = {}
    """Groups that run variants: every variant, the primary first (its addresses = ``groups``)."""


class Membership:
    """The live view, updated by the supervisor's announcements; callers wait on it."""

    def __init__(self, groups: Mapping[str, Sequence[str]] | None = None) -> None:
        self.version = 0
        self._groups: dict[str, tuple[str, ...]] = {
            g: tuple(a) for g, a in (groups or {}).items()
        }
        self.down: frozenset[str] = frozenset()
        self.splits: dict[str, list[Split]] = {}
        self._changed = asyncio.Event()

    def endpoints(self, group: str, variant: str | None = None) -> tuple[str, ...]:
        """Ready replicas of ``group``'s primary version, or of one of its variants."""
        if variant is None or variant == PRIMARY:
            return self._groups.get(group, ())
        for split in self.splits.get(group, ()):
            if split.variant == variant:
                return tuple(split.addresses)
        return ()

    def update(self, view: MembershipView) -> None:
        if view.version <= self.version:
            return
        self.version = view.version
        self._groups = {g: tuple(a) for g, a in view.groups.items()}
        self.down = frozenset(view.down)
        self.splits = view.splits
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_view(self, after: int) -> MembershipView:
        """The first snapshot whose version is above ``after`` (waits for a change)."""
        while self.version <= after:
            await self._changed.wait()
        return self.snapshot()

    def snapshot(self) -> MembershipView:
        return MembershipView(self.version, {g: list(a) for g, a in self._groups.items()},
                              sorted(self.down), self.splits)

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


def replica_addresses(membership: Membership) -> list[str]:
    """Every ready replica of every group, variants included."""
    view = membership.snapshot()
    addresses = [a for group in view.groups.values() for a in group]
    addresses += [a for splits in view.splits.values() for s in splits[1:] for a in s.addresses]
    return addresses


def group_splits(group: Group, primary: list[str],
                 addresses: Callable[[str], list[str]]) -> list[Split]:
    """The splits of a group that runs variants: its primary first, then each variant.

    ``primary`` are the primary version's addresses, ``addresses(variant)`` a
    variant's; every discovery builds its view's ``splits`` with this.
    """
    return [Split(PRIMARY, group.primary_weight, primary)] + [
        Split(v.name, v.sample if v.shadow else v.weight, addresses(v.name), v.shadow)
        for v in group.variants]
