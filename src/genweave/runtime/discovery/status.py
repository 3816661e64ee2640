"""The deployment as a process found by discovery sees it: no supervisor to ask.

Components that declare ``runtime: Runtime`` (the gateway, for ``/readyz``,
``/metrics`` and the console) get this in a replica that runs with DNS or
static discovery: each group's replicas are those its discovery lists now,
and their metrics are collected from them over RPC, as the supervisor's
runtime does.

Example::

    runtime = DiscoveredRuntime(app, topology, "core/10.0.0.2:7070", discovery, router)
    (await runtime.status()).ready()   # every group has a replica in this caller's set
"""

from __future__ import annotations

from typing import Final

from genweave.application import App
from genweave.runtime.discovery.base import Discovery
from genweave.runtime.introspect import (
    DeploymentStatus,
    ReplicaMetrics,
    ReplicaStatus,
    Runtime,
    collect_metrics,
)
from genweave.runtime.membership import replica_addresses
from genweave.runtime.router import Router
from genweave.topology import Topology

__all__ = ["DiscoveredRuntime"]

ADMIN_TIMEOUT: Final = 2.0
"""Seconds a replica has to answer a metrics collection; one that does not is left out."""


class DiscoveredRuntime(Runtime):
    """Status and metrics of the replicas a discovery lists (pids and restarts are unknown)."""

    def __init__(self, app: App, topology: Topology, where: str, discovery: Discovery,
                 router: Router) -> None:
        super().__init__(app, topology, where)
        self._discovery = discovery
        self._router = router

    async def status(self) -> DeploymentStatus:
        membership = self._discovery.membership
        replicas = []
        for group in self.topology.groups:
            ready = [ReplicaStatus(group.name, i, "ready", version=group.version)
                     for i, _ in enumerate(membership.endpoints(group.name))]
            for split in membership.splits.get(group.name, [])[1:]:
                ready += [ReplicaStatus(group.name, len(ready) + i, "ready",
                                        version=group.version, variant=split.variant)
                          for i, _ in enumerate(split.addresses)]
            replicas += ready or [ReplicaStatus(group.name, 0, "starting",
                                                version=group.version)]
        return DeploymentStatus(self.app.name, self.topology.name, replicas)

    async def metrics(self) -> list[ReplicaMetrics]:
        return await collect_metrics(self._router, replica_addresses(self._discovery.membership),
                                     ADMIN_TIMEOUT)
