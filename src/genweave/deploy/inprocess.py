"""All groups in this process: for tests, notebooks and the fastest possible monolith.

``codec=False`` wires every Ref directly.  ``codec=True`` keeps one host per
group and sends every call between groups through the real client and server
protocol over an in-memory transport, so anything that would not survive a
split fails here too, at in-process speed.
"""

from __future__ import annotations

import itertools
import logging

from genweave.application import App
from genweave.deploy.base import Deployment
from genweave.deploy.ordering import start_order
from genweave.runtime.callee import Callee
from genweave.runtime.host import Host
from genweave.runtime.introspect import LocalRuntime
from genweave.runtime.membership import Membership, MembershipView
from genweave.runtime.refs import ComponentProxy, direct_proxy, remote_proxy
from genweave.runtime.router import Router
from genweave.topology import Topology, component_settings
from genweave.transport.endpoints import listen, memory_servers

__all__ = ["InProcessDeployment"]

logger = logging.getLogger("genweave.deploy")
_ids = itertools.count(1)
CLIENT = "client"


class InProcessDeployment(Deployment):
    """Every group hosted in the calling process."""

    def __init__(self, app: App, topology: Topology, *, codec: bool = False) -> None:
        super().__init__(app, topology)
        self.codec = codec
        self.hosts: dict[str, Host] = {}
        self._addresses: list[str] = []
        self._membership = Membership()
        self._routers: list[Router] = []
        self._client: Router | None = None
        self._down: set[str] = set()
        self.runtime = LocalRuntime(app, topology, "local")

    async def start(self) -> None:
        extras = [g.name for g in self.topology.groups if g.variants or g.autoscale]
        if extras:
            logger.warning("groups %s declare variants or autoscaling, which need "
                           "placement='process'; here each runs its primary version once",
                           ", ".join(extras))
        if not self.codec:
            names = tuple(self.app.components)
            host = Host(self.app, names, None, self.topology.max_message_bytes,
                        {n: component_settings(self.topology, self.app, n) for n in names},
                        self.runtime, self.topology.refs)
            self.hosts["main"] = host
            await host.start()
            return
        prefix = f"deployment-{next(_ids)}"
        groups: dict[str, list[str]] = {}
        for group in self.topology.groups:
            router = self._router(f"{group.name}/0")
            host = Host.for_group(self.app, self.topology, group.name, router, self.runtime)
            self.hosts[group.name] = host
            address = f"memory:{prefix}/{group.name}/0"
            groups[group.name] = [address]
            self._addresses.append(address)
        self._membership = Membership(groups)
        for router in self._routers:
            router.membership = self._membership
        for name in start_order(self.app, self.topology):
            host = self.hosts[name]
            await host.start()
            await listen(f"memory:{prefix}/{name}/0", self._dispatcher(name))

    async def stop_group(self, group: str) -> None:
        """Take ``group`` off the network: calls to it now fail as ``Unavailable``."""
        self._check_codec()
        views = self._membership.snapshot()
        self._down.add(group)
        self._membership.update(MembershipView(views.version + 1, {
            g: a for g, a in views.groups.items() if g not in self._down}, sorted(self._down)))
        for address in self._addresses:
            if f"/{group}/" in address:
                memory_servers.pop(address.partition(":")[2], None)
        for router in self._routers:
            await router.close()

    async def start_group(self, group: str) -> None:
        """Bring a group taken down by ``stop_group`` back."""
        self._check_codec()
        self._down.discard(group)
        address = next(a for a in self._addresses if f"/{group}/" in a)
        await listen(address, self._dispatcher(group))
        views = self._membership.snapshot()
        self._membership.update(MembershipView(views.version + 1, {**views.groups,
                                                                  group: [address]},
                                               sorted(self._down)))

    def _dispatcher(self, group: str) -> Callee:
        limit = self.topology.group(group).max_in_flight
        return self.hosts[group].dispatcher(f"{group}/0", limit)

    def _check_codec(self) -> None:
        if not self.codec:
            raise ValueError("groups can be stopped only in the codec placement: "
                             "with placement='inprocess' every call is direct")

    def _router(self, caller: str) -> Router:
        router = Router(self.app.name, caller, self._membership,
                        max_message_bytes=self.topology.max_message_bytes,
                        limits=self.topology.limits())
        self._routers.append(router)
        return router

    def proxy(self, component: str) -> ComponentProxy:
        spec = self.app.spec(component)
        if not self.codec:
            return direct_proxy(spec, self.hosts["main"].instances[component])
        if self._client is None:
            self._client = self._router(CLIENT)
        return remote_proxy(spec, self._client, self.topology.group_of(component).name, CLIENT)

    async def stop(self) -> None:
        for address in self._addresses:
            memory_servers.pop(address.partition(":")[2], None)
        for router in self._routers:
            await router.close()
        for host in self.hosts.values():
            await host.stop()
        self.hosts.clear()
