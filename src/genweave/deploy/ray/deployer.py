"""The Ray deployer: every group replica a Ray actor, calls over genweave's own transport.

Ray decides where each replica runs (the group's ``cpus``, ``gpus``,
``memory`` and custom resources; replicas of one group spread over nodes) and
restarts one whose process died; genweave carries the calls, over TCP between
the nodes' IPs, and keeps membership in a registry actor that every replica
and this driver follow.  A placement that may span nodes must keep state
consistent, so SQLite state that replicas on several nodes would split is
refused before anything starts (``genweave.deploy.consistency``).

Example::

    async with deploy(app, "microservices", placement="ray", address="auto") as running:
        print(await running.get(Frontend).hello("world"))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from genweave.application import App
from genweave.component import spec_of
from genweave.deploy.autoscale import Autoscaler, calls_in_flight
from genweave.deploy.base import Deployment
from genweave.deploy.consistency import state_conflicts
from genweave.deploy.control import CONTROL_SOCKET, Control, DeploymentInfo
from genweave.deploy.local import (
    CLIENT,
    DEFAULT_GRACE,
    DEFAULT_START_TIMEOUT,
    DeployError,
    log_to_stderr,
)
from genweave.deploy.ordering import caller_waves
from genweave.deploy.ray.cluster import ActorGone, ActorHandle, RayCluster
from genweave.deploy.ray.discovery import RayDiscovery
from genweave.deploy.ray.options import RESTART_FOREVER, actor_options, check_resources
from genweave.deploy.ray.registry import Registry
from genweave.deploy.ray.replica import ReplicaActor, ReplicaSpec
from genweave.runtime.callee import Callee
from genweave.runtime.introspect import (
    DeploymentStatus,
    ReplicaMetrics,
    ReplicaStatus,
    collect_metrics,
)
from genweave.runtime.membership import MembershipView, replica_addresses
from genweave.runtime.refs import ComponentProxy, remote_proxy
from genweave.runtime.router import DEFAULT_READY_WAIT, Router
from genweave.topology import Topology
from genweave.transport.endpoints import listen

__all__ = ["RayDeployer", "RayReplica"]

_STOP_MARGIN: Final = 10.0
"""Seconds a replica's drain may take beyond the grace period before its actor is killed."""


@dataclass
class RayReplica:
    """One replica's actor, and what it said when it became ready."""

    group: str
    index: int
    actor: ActorHandle
    address: str | None = None
    node: str | None = None
    pid: int | None = None
    restarts: int = 0


class RayDeployer(Deployment):
    """Runs each group replica as a Ray actor (see the module docstring).

    ``address``: the cluster (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``;
    ``None`` starts a local one, or uses the one this process is connected to);
    ``resources``: custom Ray resources per group (``{"model": {"gpu_node": 1}}``);
    ``max_restarts``: how often Ray restarts a dead replica (-1: always);
    ``runtime_env``: Ray's runtime environment for the actors (code, packages);
    ``rundir``: where to serve the control socket that ``genweave status``,
    ``call`` and ``scale`` attach to, as under the local supervisor (none: not served).
    """

    def __init__(self, app: App, topology: Topology, *, import_path: str | None = None,
                 address: str | None = None,
                 resources: Mapping[str, Mapping[str, float]] | None = None,
                 max_restarts: int = RESTART_FOREVER,
                 runtime_env: Mapping[str, Any] | None = None, rundir: Path | None = None,
                 log: Callable[[str], None] = log_to_stderr,
                 start_timeout: float = DEFAULT_START_TIMEOUT, grace: float = DEFAULT_GRACE,
                 ready_wait: float = DEFAULT_READY_WAIT) -> None:
        super().__init__(app, topology)
        path = import_path or app.import_path()
        if path is None:
            raise DeployError(f"cannot find an importable name for app '{app.name}': define it "
                              "at module level and pass 'module:attribute' (Ray actors import it)")
        with_variants = [g.name for g in topology.groups if g.variants]
        if with_variants:
            raise DeployError(f"groups {', '.join(with_variants)} have variants, which the Ray "
                              "placement does not run yet; run them with placement 'process'")
        self.resources = {g: dict(table) for g, table in (resources or {}).items()}
        check_resources(topology, self.resources)
        self.import_path = path
        self.address = address
        self.max_restarts = max_restarts
        self.runtime_env = runtime_env
        self.rundir = rundir
        self._control_server: asyncio.AbstractServer | None = None
        self.log = log
        self.start_timeout = start_timeout
        self.grace = grace
        self._ready_wait = ready_wait
        self.replicas: dict[str, list[RayReplica]] = {g.name: [] for g in topology.groups}
        self._indices = {g.name: itertools.count() for g in topology.groups}
        self._changing = asyncio.Lock()
        self._autoscalers: list[Autoscaler] = []
        self._cluster: RayCluster | None = None
        self._registry: ActorHandle | None = None
        self._registry_name = f"genweave-{app.name}-{uuid.uuid4().hex[:8]}"
        self._discovery: RayDiscovery | None = None
        self._router: Router | None = None

    @property
    def cluster(self) -> RayCluster:
        if self._cluster is None:
            raise DeployError("the Ray deployment is not started")
        return self._cluster

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._cluster = RayCluster.connect(self.address, self.runtime_env)
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cluster = self.cluster
        self._refuse_split_state(len(cluster.nodes()))
        self._registry = cluster.start_actor(
            Registry, ([g.name for g in self.topology.groups],), name=self._registry_name,
            options={"num_cpus": 0, "max_restarts": 0})
        self._discovery = RayDiscovery(self.app.name, CLIENT, cluster, self._registry)
        self._router = Router(self.app.name, CLIENT, self._discovery.membership,
                              ready_wait=self._ready_wait,
                              max_message_bytes=self.topology.max_message_bytes,
                              limits=self.topology.limits(),
                              on_unreachable=self._discovery.unreachable)
        await self._discovery.start()
        started = [self._new_replica(g.name) for g in self.topology.groups
                   for _ in range(g.replicas)]
        await self._wait_ready(started)
        if self.rundir is not None:
            self.rundir.mkdir(parents=True, exist_ok=True)
            control = Callee(self.app.name, "supervisor",
                             {"genweave.Control": (Control(self), spec_of(Control))})
            self._control_server, _ = await listen(f"unix:{self.rundir / CONTROL_SOCKET}",
                                                   control)
        self.log(f"[ray] {self.app.name}: {self._summary()} ready on "
                 f"{len({r.node for r in started})} node(s)")
        for group in self.topology.groups:
            if group.autoscale is not None:
                autoscaler = Autoscaler(self, group.name, group.autoscale, self.log)
                autoscaler.start()
                self._autoscalers.append(autoscaler)

    def _refuse_split_state(self, nodes: int) -> None:
        conflicts = state_conflicts(self.app, self.topology, multi_host=nodes > 1)
        if conflicts:
            raise DeployError(f"the Ray cluster has {nodes} nodes, so replicas may run on "
                              "different hosts: " + " ".join(c.message for c in conflicts))

    async def stop(self) -> None:
        for autoscaler in self._autoscalers:
            await autoscaler.close()
        self._autoscalers = []
        if self._control_server is not None:
            self._control_server.close()
            (self.rundir or Path()).joinpath(CONTROL_SOCKET).unlink(missing_ok=True)
            self._control_server = None
        if self._cluster is not None:
            for wave in caller_waves(self.app, self.topology):
                await asyncio.gather(*(self._stop_replica(r) for g in wave
                                       for r in self.replicas[g]))
        if self._router is not None:
            await self._router.close()
        if self._discovery is not None:
            await self._discovery.close()
        if self._cluster is not None:
            if self._registry is not None:
                self._cluster.kill(self._registry)
            self._cluster.disconnect()
        self._cluster = self._registry = self._discovery = self._router = None

    async def scale(self, group: str, replicas: int) -> None:
        """Run ``replicas`` actors of ``group``: new ones join once ready, removed ones drain."""
        if replicas < 0:
            raise ValueError(f"replicas must be 0 or more, got {replicas}")
        self.topology.group(group)
        async with self._changing:
            current = self.replicas[group]
            added = [self._new_replica(group) for _ in range(len(current), replicas)]
            removed = current[replicas:]
            self.replicas[group] = [r for r in self.replicas[group] if r not in removed]
            self.topology = msgspec.structs.replace(self.topology, groups=tuple(
                msgspec.structs.replace(g, replicas=replicas) if g.name == group else g
                for g in self.topology.groups))
            await asyncio.gather(self._wait_ready(added),
                                 *(self._stop_replica(r) for r in removed))
        self.log(f"[ray] {group}: {replicas} replica{'s' if replicas != 1 else ''}")

    # -- replicas ----------------------------------------------------------------------

    def _new_replica(self, group: str) -> RayReplica:
        index = next(self._indices[group])
        spec = ReplicaSpec(app=self.import_path, group=group, replica=index,
                           topology=self.topology, registry=self._registry_name,
                           grace=self.grace)
        options = actor_options(self.topology.group(group), self.resources, self.max_restarts)
        actor = self.cluster.start_actor(ReplicaActor, (msgspec.json.encode(spec),),
                                         options=options)
        replica = RayReplica(group, index, actor)
        self.replicas[group].append(replica)
        return replica

    async def _wait_ready(self, replicas: list[RayReplica]) -> None:
        answers = await asyncio.gather(*(self.refresh(r) for r in replicas),
                                       return_exceptions=True)
        failures = [f"{r.group}/{r.index}: {self._why(r, a)}"
                    for r, a in zip(replicas, answers, strict=True)
                    if isinstance(a, BaseException)]
        if failures:
            raise DeployError("replicas did not start on Ray: " + "; ".join(failures))
        assert self._discovery is not None
        wanted = {r.address for r in replicas}

        def listed() -> bool:
            assert self._discovery is not None
            return wanted <= set(replica_addresses(self._discovery.membership))

        async with asyncio.timeout(self.start_timeout):
            while not listed():
                await self._discovery.membership.next_view(self._discovery.membership.version)

    def _why(self, replica: RayReplica, error: BaseException) -> str:
        if not isinstance(error, TimeoutError):
            return str(error)
        options = actor_options(self.topology.group(replica.group), self.resources)
        asked = {k: v for k, v in options.items() if k not in ("scheduling_strategy",
                                                                "max_restarts")}
        return (f"not ready within {self.start_timeout:g}s; Ray may have no node with what it "
                f"asks for ({asked}): see 'ray status'")

    async def refresh(self, replica: RayReplica) -> RayReplica:
        """Ask ``replica``'s actor where it serves (waiting until it does, e.g. after a restart)."""
        address, node, pid = await self.cluster.call(
            replica.actor, "ready", self.start_timeout, timeout=self.start_timeout + _STOP_MARGIN)
        if replica.pid is not None and pid != replica.pid:
            replica.restarts += 1
        replica.address, replica.node, replica.pid = address, node, pid
        return replica

    async def _stop_replica(self, replica: RayReplica) -> None:
        """Drain a replica that served, then end its actor (one never placed is just ended)."""
        if replica.pid is not None:
            with contextlib.suppress(ActorGone, TimeoutError):
                await self.cluster.call(replica.actor, "stop", timeout=self.grace + _STOP_MARGIN)
        self.cluster.kill(replica.actor)

    # -- what the autoscaler calls ---------------------------------------------------

    def replica_count(self, group: str) -> int:
        return len(self.replicas[group])

    async def calls_in_flight(self, group: str) -> int:
        assert self._router is not None and self._discovery is not None
        return await calls_in_flight(self._router, self._discovery.membership.endpoints(group))

    # -- what Control calls (genweave status, call, scale) -----------------------------

    def info(self) -> DeploymentInfo:
        return DeploymentInfo(self.app.name, self.import_path, self.topology, os.getpid())

    def replica_ready(self, group: str, replica: int, address: str, pid: int) -> None:
        """Replicas on Ray tell the registry, not the control socket: nothing to do."""

    def replica_draining(self, group: str, replica: int) -> None:
        """As ``replica_ready``."""

    async def next_view(self, after: int) -> MembershipView:
        assert self._discovery is not None, "the deployment is not started"
        return await self._discovery.membership.next_view(after)

    async def rollout(self, group: str, settings: dict[str, dict[str, Any]] | None = None,
                      version: str | None = None) -> str:
        raise DeployError(f"rollout of group '{group}': the Ray placement does not roll out "
                          "yet; scale the group, or run with placement 'process'")

    def pid(self, group: str, replica: int = 0) -> int | None:
        """The process id of replica number ``replica`` of ``group``, as it last said."""
        found = [r for r in self.replicas[group] if r.index == replica]
        return found[0].pid if found else None

    # -- status and client side ---------------------------------------------------------

    def status(self) -> DeploymentStatus:
        """Each replica: ready while the registry lists it, else starting (e.g. restarting)."""
        listed = set(replica_addresses(self._discovery.membership)) if self._discovery else set()
        return DeploymentStatus(self.app.name, self.topology.name, [
            ReplicaStatus(r.group, r.index, "ready" if r.address in listed else "starting",
                          r.pid, r.restarts, self.topology.group(r.group).version)
            for replicas in self.replicas.values() for r in replicas])

    async def metrics(self) -> list[ReplicaMetrics]:
        """Call metrics of every listed replica (as ``genweave status`` shows them)."""
        assert self._router is not None and self._discovery is not None
        return await collect_metrics(self._router, replica_addresses(self._discovery.membership))

    def proxy(self, component: str) -> ComponentProxy:
        if self._router is None:
            raise DeployError("the Ray deployment is not started")
        spec = self.app.spec(component)
        return remote_proxy(spec, self._router, self.topology.group_of(component).name, CLIENT)

    def _summary(self) -> str:
        return ", ".join(f"{g.name} x{g.replicas}" for g in self.topology.groups)
