"""Which connections are open, from whom: kept by the server, read by the app.

An ASGI app sees requests, never connections, so the server
(:mod:`genweave.gateway.protocol`) counts them and hands each request the
counts of the moment its headers arrived, in the ASGI scope's
``extensions`` (where the ASGI spec puts what a server adds).  The bounds on
connections are then decided with the request's path known, so probes stay
exempt (:mod:`genweave.gateway.admission`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from starlette.types import Scope

__all__ = ["EXTENSION", "ConnectionCount", "ConnectionTable", "connection_count"]

EXTENSION: Final = "genweave.connections"


@dataclass(frozen=True, slots=True)
class ConnectionCount:
    """The server's connections when a request's headers came, its own included."""

    open: int
    from_peer: int


@dataclass(slots=True)
class ConnectionTable:
    """Open connections per peer address, and in all.

    Example::

        table = ConnectionTable()
        table.opened("203.0.113.9")
        table.count("203.0.113.9")   # ConnectionCount(open=1, from_peer=1)
    """

    _by_peer: Counter[str] = field(default_factory=Counter)
    total: int = 0

    def opened(self, peer: str) -> None:
        self._by_peer[peer] += 1
        self.total += 1

    def closed(self, peer: str) -> None:
        self._by_peer[peer] -= 1
        if self._by_peer[peer] <= 0:
            del self._by_peer[peer]  # an address that left takes no memory
        self.total -= 1

    def count(self, peer: str) -> ConnectionCount:
        return ConnectionCount(self.total, self._by_peer[peer])


def connection_count(scope: Scope) -> ConnectionCount | None:
    """The counts the server put in ``scope``; ``None`` under a server that keeps none
    (a test transport), where the bounds on connections do not apply."""
    count = scope.get("extensions", {}).get(EXTENSION)
    return count if isinstance(count, ConnectionCount) else None
