"""The supervisor's control interface, served to its workers over a Unix socket.

It is itself a genweave component, so workers talk to their supervisor with the
same transport, codec and streaming they use for application calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, Protocol

import msgspec

from genweave.component import component, method
from genweave.runtime.introspect import DeploymentStatus
from genweave.runtime.membership import MembershipView
from genweave.topology import Topology

__all__ = [
    "CONTROL_SOCKET",
    "WORKER_ENV", "Control", "ControlState", "DeploymentInfo", "WorkerSpec"]

WORKER_ENV: Final = "GENWEAVE_WORKER"
CONTROL_SOCKET: Final = "control.sock"
"""Environment variable carrying a worker's ``WorkerSpec`` as JSON."""


class DeploymentInfo(msgspec.Struct, frozen=True):
    """What a client needs to call into a running deployment."""

    app: str
    import_path: str
    topology: Topology
    pid: int


class WorkerSpec(msgspec.Struct, frozen=True):
    """Everything one replica needs to know, handed over by the supervisor."""

    app: str
    topology: Topology
    group: str
    replica: int
    listen: str
    control: str
    supervisor_pid: int
    grace: float


class ControlState(Protocol):
    """What the supervisor exposes to ``Control``."""

    def info(self) -> DeploymentInfo: ...
    def replica_ready(self, group: str, replica: int, address: str, pid: int) -> None: ...
    def replica_draining(self, group: str, replica: int) -> None: ...
    async def next_view(self, after: int) -> MembershipView: ...
    def status(self) -> DeploymentStatus: ...
    async def scale(self, group: str, replicas: int) -> None: ...


@component(name="genweave.Control")
class Control:
    """Workers register when ready, announce draining, and follow membership changes."""

    def __init__(self, state: ControlState) -> None:
        self._state = state

    async def register(self, group: str, replica: int, address: str, pid: int) -> None:
        self._state.replica_ready(group, replica, address, pid)

    async def draining(self, group: str, replica: int) -> None:
        self._state.replica_draining(group, replica)

    async def describe(self) -> DeploymentInfo:
        return self._state.info()

    async def status(self) -> DeploymentStatus:
        return self._state.status()

    @method(timeout=300.0)
    async def scale(self, group: str, replicas: int) -> DeploymentStatus:
        """Change a group's replica count; returns once the new replicas are ready."""
        await self._state.scale(group, replicas)
        return self._state.status()

    async def watch(self, after: int) -> AsyncIterator[MembershipView]:
        """Every membership version above ``after``, as it happens."""
        while True:
            view = await self._state.next_view(after)
            after = view.version
            yield view
