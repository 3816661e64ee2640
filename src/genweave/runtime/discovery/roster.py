"""Which listed replicas a caller sends calls to: the rule, apart from any machinery.

Discovery *lists* each group's replicas (the supervisor's view, a DNS answer,
a static list); a caller also learns from its own connections.  The rule:

- a listed address is in the caller's set, unless a connection to it failed
  (it could not be opened, or it closed under a call): then it is **out at
  once**, before another call is routed to it;
- an address that is out is **probed** (a new connection and handshake) every
  ``PROBE_INTERVAL`` seconds and comes back as soon as one succeeds, or when
  discovery stops listing it and later lists it again (a new replica that got
  the same address);
- an address that discovery no longer lists is forgotten.

Every method takes the time as ``now``, so tests drive it with a fake clock.

Example::

    roster = Roster()
    roster.listed(["tcp:10.0.0.2:7070", "tcp:10.0.0.3:7070"])
    roster.failed("tcp:10.0.0.3:7070", now=100.0)      # out at once
    roster.due(now=101.0)                               # ["tcp:10.0.0.3:7070"]: probe it
    roster.probed("tcp:10.0.0.3:7070", ok=True, now=101.0)  # back in
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from genweave.runtime.membership import MembershipView

__all__ = ["PROBE_INTERVAL", "Roster", "listed_addresses", "without"]

PROBE_INTERVAL: Final = 1.0
"""Seconds between probes of an address whose connection failed."""


class Roster:
    """The addresses that are out of a caller's set, and when each is next probed."""

    def __init__(self, probe_interval: float = PROBE_INTERVAL) -> None:
        self.probe_interval = probe_interval
        self._listed: frozenset[str] = frozenset()
        self._out: dict[str, float] = {}
        """Address -> when its next probe is due."""

    @property
    def out(self) -> frozenset[str]:
        """Listed addresses that calls avoid now."""
        return frozenset(self._out)

    def listed(self, addresses: Iterable[str]) -> bool:
        """Discovery's whole listing now; returns whether an address came back by leaving it."""
        self._listed = frozenset(addresses)
        gone = [address for address in self._out if address not in self._listed]
        for address in gone:
            del self._out[address]
        return bool(gone)

    def failed(self, address: str, now: float) -> bool:
        """A connection to ``address`` failed; returns whether that took it out of the set."""
        if address not in self._listed or address in self._out:
            return False
        self._out[address] = now + self.probe_interval
        return True

    def due(self, now: float) -> list[str]:
        """The addresses to probe now."""
        return sorted(address for address, at in self._out.items() if at <= now)

    def probed(self, address: str, ok: bool, now: float) -> bool:
        """A probe of ``address`` ended; returns whether that brought it back into the set."""
        if address not in self._out:
            return False
        if ok:
            del self._out[address]
            return True
        self._out[address] = now + self.probe_interval
        return False

    def next_probe(self) -> float | None:
        """When the earliest probe is due, or ``None`` when every listed address is in."""
        return min(self._out.values(), default=None)


def listed_addresses(view: MembershipView) -> set[str]:
    """Every address a view lists: each group's primary replicas and its variants'."""
    addresses = {a for group in view.groups.values() for a in group}
    return addresses | {a for splits in view.splits.values() for s in splits for a in s.addresses}


def without(view: MembershipView, out: frozenset[str], version: int) -> MembershipView:
    """``view`` as the caller's set: the addresses in ``out`` removed, at ``version``."""
    if not out:
        return msgspec.structs.replace(view, version=version)
    groups = {g: [a for a in addresses if a not in out] for g, addresses in view.groups.items()}
    splits = {g: [msgspec.structs.replace(s, addresses=[a for a in s.addresses if a not in out])
                  for s in group] for g, group in view.splits.items()}
    return MembershipView(version, groups, view.down, splits)
