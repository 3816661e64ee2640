"""Static discovery: each group's replicas at fixed addresses, for plain VMs, systemd or Nomad.

The addresses come from the topology file::

    [groups.model]
    components = ["Generator"]
    addresses = ["tcp:10.0.0.2:7070", "tcp:10.0.0.3:7070"]

or from the environment, which wins over the file: ``GENWEAVE_ADDRESSES_MODEL=
tcp:10.0.0.2:7070,tcp:10.0.0.3:7070`` (the group's name in capitals, ``-``
written ``_``).  The list never changes while the process runs, so a replica
leaves a caller's set when a connection to it fails and comes back when a
probe reaches it again (``genweave.runtime.discovery.base``): a stopped
replica's callers see refusals, which they retry elsewhere.  Only a group's
own version is listed: experiments (variants) need the supervisor or DNS.

Example::

    discovery = StaticDiscovery("assistant", "core/10.0.0.2:7070", topology)
    await discovery.start()
    discovery.membership.endpoints("model")   # ("tcp:10.0.0.2:7070", "tcp:10.0.0.3:7070")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from genweave.errors import TopologyError
from genweave.runtime.discovery.base import Discovery
from genweave.runtime.membership import MembershipView
from genweave.topology import Topology

__all__ = ["ADDRESSES_ENV_PREFIX", "StaticDiscovery", "addresses_env", "static_addresses"]

ADDRESSES_ENV_PREFIX: Final = "GENWEAVE_ADDRESSES_"


def addresses_env(group: str) -> str:
    """The environment variable that lists ``group``'s addresses: ``model-a`` -> ``..._MODEL_A``."""
    return ADDRESSES_ENV_PREFIX + group.upper().replace("-", "_")


def static_addresses(topology: Topology, environ: Mapping[str, str]) -> dict[str, list[str]]:
    """Group -> its replicas' addresses: the environment's list, else the topology's."""
    listed = {}
    for group in topology.groups:
        raw = environ.get(addresses_env(group.name))
        if raw is None:
            listed[group.name] = list(group.addresses)
        else:
            listed[group.name] = [a.strip() for a in raw.split(",") if a.strip()]
    return listed


class StaticDiscovery(Discovery):
    """Replicas at the addresses listed for each group (see the module docstring)."""

    log_changes = True

    def __init__(self, app: str, caller: str, topology: Topology, *,
                 environ: Mapping[str, str] = os.environ, **options: float) -> None:
        super().__init__(app, caller, **options)
        self.addresses = static_addresses(topology, environ)

    def require(self, groups: Iterable[str], caller: str) -> None:
        """Fail unless every group in ``groups`` (those ``caller`` calls) has an address."""
        for group in sorted(groups):
            if not self.addresses.get(group):
                raise TopologyError(
                    f"static discovery: group '{group}' has no address, and {caller} calls it; "
                    f"list its replicas as [groups.{group}] addresses = [\"tcp:HOST:PORT\", "
                    f"...] in the topology file, or in {addresses_env(group)}=tcp:HOST:PORT,...")

    async def start(self, on_lost: Callable[[], None] = lambda: None) -> None:
        await super().start(on_lost)
        self.listed(MembershipView(0, self.addresses))
