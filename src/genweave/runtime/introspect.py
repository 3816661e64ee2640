"""What a component may learn about the deployment it runs in.

A component that declares ``runtime: Runtime`` gets one injected, like a Ref.
The gateway uses it for ``/readyz``, ``/metrics`` and the console's live view.

Example::

    @component
    class Dashboard:
        runtime: Runtime

        async def replicas(self) -> int:
            return len((await self.runtime.status()).replicas)
"""

from __future__ import annotations

import abc
import asyncio
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

import msgspec

from genweave.application import App
from genweave.component import component, method, spec_of
from genweave.observe.metrics import REGISTRY, ReplicaMetrics
from genweave.topology import Topology

if TYPE_CHECKING:
    from genweave.runtime.router import Router

__all__ = [
    "Admin",
    "DeploymentStatus",
    "LocalRuntime",
    "ReplicaLoad",
    "ReplicaMetrics",
    "ReplicaState",
    "ReplicaStatus",
    "Runtime",
    "collect_metrics",
]

ReplicaState = Literal["starting", "ready", "restarting", "draining", "stopped", "failed"]
"""Where a replica is in its life, as its deployer reports it."""


class ReplicaStatus(msgspec.Struct, frozen=True):
    group: str
    index: int
    state: ReplicaState
    pid: int | None = None
    restarts: int = 0
    version: str = "1"
    """The group version it runs (a rollout changes it)."""
    variant: str = ""
    """The experiment variant it belongs to; empty for the group's primary version."""

    @property
    def name(self) -> str:
        return f"{self.group}/{self.index}"


class DeploymentStatus(msgspec.Struct, frozen=True):
    app: str
    topology: str
    replicas: list[ReplicaStatus]

    def ready(self) -> bool:
        """Every group has at least one ready replica."""
        groups = {r.group for r in self.replicas}
        return bool(groups) and all(
            any(r.state == "ready" for r in self.replicas if r.group == g) for g in groups)


class ReplicaLoad(msgspec.Struct, frozen=True):
    in_flight: int
    """Application calls running in this replica now."""
    refused: int
    """Calls refused as overloaded since it started."""


@component(name="genweave.Admin")
class Admin:
    """Served by every replica next to the app's components."""

    def __init__(self, where: str, load: Callable[[], ReplicaLoad] | None = None) -> None:
        self._where = where
        self._load = load

    async def metrics(self) -> ReplicaMetrics:
        return ReplicaMetrics(self._where, os.getpid(), time.time() - REGISTRY.started,
                              REGISTRY.snapshot(), REGISTRY.variants_snapshot())

    @method(idempotent=True)
    async def load(self) -> ReplicaLoad:
        """How busy this replica is now (what autoscalers sample)."""
        return self._load() if self._load is not None else ReplicaLoad(0, 0)


async def collect_metrics(router: Router, addresses: Iterable[str],
                          timeout: float = 2.0) -> list[ReplicaMetrics]:
    """``Admin.metrics`` of every replica at ``addresses``; one that does not answer is left out."""
    spec = spec_of(Admin).methods["metrics"]
    results = await asyncio.gather(*(router.call_at(a, spec, spec.args_type(), timeout)
                                     for a in addresses), return_exceptions=True)
    return [r for r in results if isinstance(r, ReplicaMetrics)]


class Runtime(abc.ABC):
    """The deployment as seen from inside one of its processes."""

    def __init__(self, app: App, topology: Topology, where: str) -> None:
        self.app = app
        self.topology = topology
        self.where = where

    @abc.abstractmethod
    async def status(self) -> DeploymentStatus:
        """Every replica and its state."""

    @abc.abstractmethod
    async def metrics(self) -> list[ReplicaMetrics]:
        """Call metrics of every ready replica."""


class LocalRuntime(Runtime):
    """All groups in this one process (the ``inprocess`` and ``codec`` placements)."""

    async def status(self) -> DeploymentStatus:
        return DeploymentStatus(self.app.name, self.topology.name, [
            ReplicaStatus(g.name, 0, "ready", os.getpid()) for g in self.topology.groups])

    async def metrics(self) -> list[ReplicaMetrics]:
        return [await Admin(self.where).metrics()]
