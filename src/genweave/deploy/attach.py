"""Attaching to a deployment that is already running, from any process on the machine.

Used by worker processes (to follow their supervisor), by the CLI
(``genweave call``) and by scripts::

    async with attach("/tmp/genweave-0/hello") as running:
        print(await running.get(Frontend).hello("world"))

A deployment without a supervisor (replicas found by DNS or static addresses)
is joined the same way, through its discovery::

    topology = load_topology("genweave.toml", app)
    async with AttachedDeployment(app, topology, StaticDiscovery(app.name, "client", topology)):
        ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final, cast

from genweave.application import App, load_app
from genweave.component import spec_of
from genweave.deploy.base import Deployment
from genweave.deploy.control import CONTROL_SOCKET, Control
from genweave.deploy.rundir import TLS_DIRECTORY, check_rundir, default_rundir
from genweave.errors import Unavailable
from genweave.runtime.authorization import CONTROL
from genweave.runtime.discovery import DiscoveredRuntime, Discovery
from genweave.runtime.introspect import (
    DeploymentStatus,
    ReplicaMetrics,
    Runtime,
    collect_metrics,
)
from genweave.runtime.membership import Membership, replica_addresses
from genweave.runtime.refs import ComponentProxy, remote_proxy
from genweave.runtime.router import Router
from genweave.topology import Topology
from genweave.transport.tls import TlsFiles, use_tls

__all__ = [
    "AttachedDeployment",
    "ControlLink",
    "SupervisedRuntime",
    "attach",
    "default_rundir",
]

CONTROL_GROUP: Final = "control"

logger = logging.getLogger("genweave.attach")


class ControlLink(Discovery):
    """Local discovery: a connection to a supervisor, and the membership it announces.

    The supervisor lists a replica once it registered ready and removes it the
    moment it drains or its process exits; a replica tells it both through
    ``joined`` and ``leaving``.
    """

    def __init__(self, app_name: str, control_address: str, caller: str) -> None:
        super().__init__(app_name, caller)
        self._router = Router(app_name, caller, Membership({CONTROL_GROUP: [control_address]}),
                              ready_wait=0.0)
        self.control = cast(Control, remote_proxy(spec_of(Control), self._router, CONTROL_GROUP,
                                                  caller))
        self._follower: asyncio.Task[None] | None = None

    async def start(self, on_lost: Callable[[], None] = lambda: None) -> None:
        """Follow the supervisor's views in the background; ``on_lost`` if the link drops."""
        await super().start(on_lost)

        async def run() -> None:
            try:
                async for view in self.control.watch(0):
                    self.listed(view)
            except Exception as exc:
                logger.warning("lost the supervisor (%s)", exc)
            on_lost()

        self._follower = asyncio.create_task(run())

    async def joined(self, group: str, replica: int, address: str, pid: int) -> None:
        await self.control.register(group, replica, address, pid)

    async def leaving(self, group: str, replica: int) -> None:
        await self.control.draining(group, replica)

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        await super().close()
        await self._router.close()


ADMIN_TIMEOUT: Final = 2.0
SYNC_TIMEOUT: Final = 10.0


class SupervisedRuntime(Runtime):
    """The deployment seen from a process attached to its supervisor."""

    def __init__(self, app: App, topology: Topology, where: str, link: ControlLink,
                 router: Router) -> None:
        super().__init__(app, topology, where)
        self._link = link
        self._router = router

    async def status(self) -> DeploymentStatus:
        return await self._link.control.status()

    async def metrics(self) -> list[ReplicaMetrics]:
        return await collect_metrics(self._router, replica_addresses(self._link.membership),
                                     ADMIN_TIMEOUT)


class AttachedDeployment(Deployment):
    """A running deployment seen from outside, through its discovery; ``stop`` only detaches."""

    def __init__(self, app: App, topology: Topology, link: Discovery) -> None:
        super().__init__(app, topology)
        self._link = link
        self._router = Router(app.name, "client", link.membership,
                              max_message_bytes=topology.max_message_bytes,
                              limits=topology.limits(), on_unreachable=link.unreachable)
        self.runtime: Runtime = (
            SupervisedRuntime(app, topology, "client", link, self._router)
            if isinstance(link, ControlLink)
            else DiscoveredRuntime(app, topology, "client", link, self._router))

    @property
    def membership(self) -> Membership:
        """The replicas this client calls now, as its discovery and its connections say."""
        return self._link.membership

    async def start(self) -> None:
        await self._link.start()
        async with asyncio.timeout(SYNC_TIMEOUT):
            await self._link.synced.wait()

    async def stop(self) -> None:
        await self._router.close()
        await self._link.close()

    @property
    def control(self) -> Control:
        """The supervisor's control interface (status, scaling)."""
        if not isinstance(self._link, ControlLink):
            raise Unavailable(f"app '{self.app.name}' runs without a supervisor (its replicas "
                              "are found by DNS or static addresses); scale it where it runs")
        return self._link.control

    def proxy(self, component: str) -> ComponentProxy:
        spec = self.app.spec(component)
        return remote_proxy(spec, self._router, self.topology.group_of(component).name, "client")


async def attach(rundir: str | Path) -> AttachedDeployment:
    """Connect to the deployment whose supervisor serves ``rundir``; importing its app."""
    socket = Path(rundir) / CONTROL_SOCKET
    if not socket.exists():
        raise Unavailable(f"no running deployment at {rundir} (no {CONTROL_SOCKET}); "
                          "start one with 'genweave run'")
    check_rundir(Path(rundir))  # a socket another user placed would see every call
    certificates = Path(rundir) / TLS_DIRECTORY
    # The app name is only known after describe(); the handshake checks it, so ask first
    # with a link that accepts any app, then build the real one.
    probe = ControlLink("", f"unix:{socket}", "client")
    try:
        info = await probe.control.describe()
    finally:
        await probe.close()
    if certificates.is_dir():  # its replicas speak mutual TLS: be the control identity
        use_tls(info.app, TlsFiles.in_directory(certificates, CONTROL))
    link = ControlLink(info.app, f"unix:{socket}", "client")
    attached = AttachedDeployment(load_app(info.import_path), info.topology, link)
    await attached.start()
    return attached
