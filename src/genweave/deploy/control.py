"""The supervisor's control interface, served to its workers over a Unix socket.

It is itself a genweave component, so workers talk to their supervisor with the
same transport, codec and streaming they use for application calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final, Protocol

import msgspec

from genweave.component import component, method
from genweave.runtime.introspect import DeploymentStatus
from genweave.runtime.membership import MembershipView
from genweave.topology import Topology

__all__ = ["CONTROL_SOCKET", "WORKER_ENV", "Control", "ControlState", "DeploymentInfo",
           "WorkerSpec", "worker_arguments"]

WORKER_ENV: Final = "GENWEAVE_WORKER"
"""Environment variable carrying a worker's ``WorkerSpec`` as JSON."""
CONTROL_SOCKET: Final = "control.sock"


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
    variant: str | None = None
    """The experiment variant this replica runs (its settings), or None for the primary."""


def worker_arguments(spec: WorkerSpec) -> list[str]:
    """The ``genweave worker`` arguments of a supervised replica; the rest is in ``WORKER_ENV``.

    Example::

        worker_arguments(spec)   # ["worker", "app:app", "--group", "core", ...]
    """
    arguments = ["worker", spec.app, "--group", spec.group, "--listen", spec.listen,
                 "--discovery", "local", "--grace", f"{spec.grace:g}"]
    return arguments + (["--variant", spec.variant] if spec.variant is not None else [])


class ControlState(Protocol):
    """What the supervisor exposes to ``Control``."""

    def info(self) -> DeploymentInfo: ...
    def replica_ready(self, group: str, replica: int, address: str, pid: int) -> None: ...
    def replica_draining(self, group: str, replica: int) -> None: ...
    async def next_view(self, after: int) -> MembershipView: ...
    def status(self) -> DeploymentStatus: ...
    async def scale(self, group: str, replicas: int) -> None: ...
    async def rollout(self, group: str, settings: dict[str, dict[str, Any]] | None,
                      version: str | None) -> str: ...


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

    @method(timeout=900.0)
    async def rollout(self, group: str, settings: dict[str, dict[str, Any]],
                      version: str = "") -> DeploymentStatus:
        """Replace a group's replicas with a new version; returns once the old ones drained."""
        await self._state.rollout(group, settings, version or None)
        return self._state.status()

    async def watch(self, after: int) -> AsyncIterator[MembershipView]:
        """Every membership version above ``after``, as it happens."""
        while True:
            view = await self._state.next_view(after)
            after = view.version
            yield view
