"""Pure rules about clients: who a request comes from, and how much one client may hold.

No I/O: :mod:`genweave.gateway.admission` acts on these decisions, and tests
call them with plain values.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from genweave.gateway.limits import UNLIMITED, HttpLimits

__all__ = ["ClientCounts", "ConnectionVerdict", "TrustedProxies", "connection_verdict"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed, and the client behind them.

    Example::

        proxies = TrustedProxies(["10.0.0.0/8"])
        proxies.client_of("10.0.0.7", ["203.0.113.9, 10.0.0.3"])   # "203.0.113.9"
        proxies.client_of("198.51.100.1", ["203.0.113.9"])         # "198.51.100.1"
    """

    def __init__(self, proxies: Iterable[str]) -> None:
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in proxies)
        self.trusts = lru_cache(maxsize=1024)(self._trusts)
        """Whether ``host`` is one of the proxies (cached: a proxy asks on every request)."""

    def __bool__(self) -> bool:
        return bool(self._networks)

    def _trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:  # a name, or garbage in a header: never a proxy of ours
            return False
        return any(address in network for network in self._networks)

    def client_of(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The address a request comes from: the TCP peer, unless that is a trusted proxy.

        Behind proxies, ``X-Forwarded-For`` is read from the right (each proxy
        appends the address it saw) and the first address that is not a trusted
        proxy is the client: whatever a client writes further left is its own
        claim, never believed.  All of them trusted: the leftmost.
        """
        if not self._networks or not self.trusts(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer


@dataclass(slots=True)
class ClientCounts:
    """How many of something each client holds, against one bound (``UNLIMITED``: none).

    Example::

        requests = ClientCounts(limit=2)
        requests.take("a"), requests.take("a"), requests.take("a")   # True, True, False
        requests.release("a"); requests.take("a")                    # True
    """

    limit: int
    _held: dict[str, int] = field(default_factory=dict)

    def take(self, client: str) -> bool:
        """Count one more for ``client``, unless that would pass the bound."""
        held = self._held.get(client, 0)
        if self.limit != UNLIMITED and held >= self.limit:
            return False
        self._held[client] = held + 1
        return True

    def release(self, client: str) -> None:
        held = self._held.get(client, 0) - 1
        if held > 0:
            self._held[client] = held
        else:
            self._held.pop(client, None)  # an address that left takes no memory

    def held(self, client: str) -> int:
        return self._held.get(client, 0)


class ConnectionVerdict(enum.Enum):
    """What a request's connection count says: serve it, or refuse it and close."""

    SERVE = "serve"
    TOO_MANY_FROM_CLIENT = "too many from client"
    TOO_MANY = "too many"


def connection_verdict(limits: HttpLimits, open_connections: int, from_peer: int,
                       peer_is_proxy: bool) -> ConnectionVerdict:
    """Whether a request may be served, from the connections open when its headers came.

    ``open_connections`` and ``from_peer`` include the request's own.  A trusted
    proxy carries many clients on its connections, so the per-client bound
    never applies to it.

    Example::

        connection_verdict(HttpLimits(max_connections=10), 11, 1, False)   # TOO_MANY
    """
    if open_connections > limits.max_connections:
        return ConnectionVerdict.TOO_MANY
    per_client = limits.max_connections_per_client
    if per_client != UNLIMITED and not peer_is_proxy and from_peer > per_client:
        return ConnectionVerdict.TOO_MANY_FROM_CLIENT
    return ConnectionVerdict.SERVE
