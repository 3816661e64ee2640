"""How a caller learns each group's replicas: the interface and its implementations.

``base.Discovery`` is the interface (and what every implementation shares:
failed connections take an address out at once, probes bring it back);
``static.StaticDiscovery`` and ``dns.DnsDiscovery`` are two sources, the local
supervisor's (``genweave.deploy.attach.ControlLink``) the third; ``roster`` is
the pure rule of who is in a caller's set.
"""

from __future__ import annotations

from genweave.runtime.discovery.base import PROBE_TIMEOUT, Discovery
from genweave.runtime.discovery.dns import (
    DEFAULT_PEER_PORT,
    RESOLVE_INTERVAL,
    DnsDiscovery,
    service_name,
)
from genweave.runtime.discovery.roster import PROBE_INTERVAL, Roster
from genweave.runtime.discovery.static import StaticDiscovery, addresses_env
from genweave.runtime.discovery.status import DiscoveredRuntime

__all__ = [
    "DEFAULT_PEER_PORT",
    "PROBE_INTERVAL",
    "PROBE_TIMEOUT",
    "RESOLVE_INTERVAL",
    "DiscoveredRuntime",
    "Discovery",
    "DnsDiscovery",
    "Roster",
    "StaticDiscovery",
    "addresses_env",
    "service_name",
]
