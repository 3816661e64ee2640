"""The local deployer: one process per group replica on this machine.

It starts every replica (through the ``Supervisor``), publishes which ones are
ready (traffic only goes to ready replicas), changes a running group (scale,
rollout, stop, start), serves the control socket its workers and the CLI talk
to, and stops gracefully: callers before callees, each replica finishing its
calls in flight.

Group resources: ``gpus`` gives each replica its own devices through
``CUDA_VISIBLE_DEVICES`` (``genweave.topology.devices`` says which; the
machine's count comes from ``gpu_count`` or ``GENWEAVE_GPU_COUNT``).  ``cpus``
and ``memory`` are accepted and not enforced: processes on one machine share
its CPUs and memory (Kubernetes and Ray enforce them).

Example::

    deployer = LocalDeployer(app, preset("microservices", app))
    async with deployer:
        print(await deployer.get(Frontend).hello("world"))
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec

from genweave.application import App
from genweave.component import spec_of
from genweave.deploy.autoscale import Autoscaler, calls_in_flight
from genweave.deploy.base import Deployment
from genweave.deploy.control import CONTROL_SOCKET, Control, DeploymentInfo
from genweave.deploy.ordering import caller_waves
from genweave.deploy.rundir import TLS_DIRECTORY, private_rundir
from genweave.deploy.supervisor import Replica, Supervisor, wait_started
from genweave.errors import GenweaveError, TopologyError
from genweave.runtime.authorization import CONTROL
from genweave.runtime.callee import Callee
from genweave.runtime.introspect import (
    DeploymentStatus,
    ReplicaMetrics,
    ReplicaStatus,
    collect_metrics,
)
from genweave.runtime.membership import (
    Membership,
    MembershipView,
    group_splits,
    replica_addresses,
)
from genweave.runtime.refs import ComponentProxy, remote_proxy
from genweave.runtime.router import DEFAULT_READY_WAIT, Router
from genweave.topology import GPU_COUNT_ENV, GpuPlan, Topology, validate
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import listen
from genweave.transport.tls import TlsFiles, client_context

__all__ = ["DeployError", "LocalDeployer", "log_to_stderr"]

DEFAULT_START_TIMEOUT: Final = 60.0
DEFAULT_GRACE: Final = 10.0
CLIENT: Final = "client"
LOCAL_CERTIFICATE_DAYS: Final = 30.0
"""Validity of the CA and certificates made for a TCP deployment (``genweave.deploy.certs``
is imported only when one starts); a rollout gives its group a new certificate."""


class DeployError(GenweaveError):
    """A deployment could not start; the message carries the failing replica's last logs."""


def log_to_stderr(line: str) -> None:
    """Where a deployment's log lines go unless told otherwise."""
    print(line, file=sys.stderr, flush=True)


class LocalDeployer(Deployment):
    """Supervises one process per group replica on this machine.

    ``log`` receives every line the supervisor and the replicas write;
    ``grace`` is how long a stopping replica may finish its calls;
    ``ready_wait`` is how long a call waits for a group with no ready replica,
    e.g. while it restarts.
    """

    def __init__(self, app: App, topology: Topology, *, import_path: str | None = None,
                 rundir: str | Path | None = None, log: Callable[[str], None] = log_to_stderr,
                 start_timeout: float = DEFAULT_START_TIMEOUT, grace: float = DEFAULT_GRACE,
                 ready_wait: float = DEFAULT_READY_WAIT, gpu_count: int | None = None,
                 tls: bool = True) -> None:
        super().__init__(app, topology)
        self.tls = tls and topology.transport == "tcp"
        """Whether its processes call each other with mutual TLS (TCP only; see _secure_tcp)."""
        self._client_tls: ssl.SSLContext | None = None
        path = import_path or app.import_path()
        if path is None:
            raise DeployError(
                f"cannot find an importable name for app '{app.name}': define it at module "
                "level and pass 'module:attribute' (worker processes import it)"
            )
        self.import_path = path
        self.log = log
        self.start_timeout = start_timeout
        self.grace = grace
        self._ready_wait = ready_wait
        self._own_rundir = rundir is None
        self.rundir = Path(rundir) if rundir else Path(tempfile.mkdtemp(prefix="genweave-"))
        self._supervisor = Supervisor(path, f"unix:{self.control_address_path}", self.rundir,
                                      grace, log, on_gone=self._unpublish)
        self.membership = Membership()
        self._gpus = GpuPlan(topology, gpu_count if gpu_count is not None else _env_gpu_count())
        self.replicas: dict[str, list[Replica]] = {g.name: [] for g in topology.groups}
        self._indices = {g.name: itertools.count() for g in topology.groups}
        for group in topology.groups:
            for _ in range(group.replicas):
                self._new_replica(group.name)
            for variant in group.variants:
                for _ in range(variant.replicas):
                    self._new_replica(group.name, variant.name)
        self._changing = asyncio.Lock()
        """Held while a group's replicas change (scale, rollout): one change at a time."""
        self._autoscalers: list[Autoscaler] = []
        self._router: Router | None = None
        self._control_server: asyncio.AbstractServer | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        private_rundir(self.rundir)
        if self.tls:
            self._secure_tcp()
        control = Callee(self.app.name, "supervisor",
                         {"genweave.Control": (Control(self), spec_of(Control))})
        self._control_server, _ = await listen(f"unix:{self.control_address_path}", control)
        self._router = _DeployerRouter(self.app.name, CLIENT, self.membership,
                                       ready_wait=self._ready_wait,
                                       max_message_bytes=self.topology.max_message_bytes,
                                       limits=self.topology.limits(), tls=self._client_tls)
        for replica in self._all_replicas():
            self._supervisor.start(replica)
        failure = await wait_started(self._all_replicas(), self.start_timeout)
        if failure is not None:
            await self.stop()
            raise DeployError(failure)
        self.log(f"[supervisor] {self.app.name}: {self._summary()} ready")
        for group in self.topology.groups:
            if group.autoscale is not None:
                autoscaler = Autoscaler(self, group.name, group.autoscale, self.log)
                autoscaler.start()
                self._autoscalers.append(autoscaler)

    def _secure_tcp(self) -> None:
        """Mutual TLS between this deployment's processes, with certificates made for it."""
        # Imported here: cryptography costs every process importing genweave.deploy
        # (each replica does) tens of milliseconds, and only TCP deployments need it.
        from genweave.deploy.certs import local_certificates

        directory = self.rundir / TLS_DIRECTORY
        shutil.rmtree(directory, ignore_errors=True)
        local_certificates(self.app.name, directory,
                           [CONTROL, *(g.name for g in self.topology.groups)],
                           LOCAL_CERTIFICATE_DAYS)
        self._client_tls = client_context(TlsFiles.in_directory(directory, CONTROL))
        self._supervisor.tls_dir = directory

    def _rotate_certificate(self, group: str) -> None:
        """A new certificate for ``group``: its new replicas start with it, its old ones keep
        theirs until they drain, and callers accept both (same CA)."""
        from genweave.deploy.certs import issue  # see _secure_tcp

        issue(self.app.name, group, self.rundir / TLS_DIRECTORY, LOCAL_CERTIFICATE_DAYS,
              hosts=("127.0.0.1",))

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._supervisor.closing = True
        for autoscaler in self._autoscalers:
            await autoscaler.close()
        for wave in caller_waves(self.app, self.topology):
            await asyncio.gather(*(self._supervisor.stop(r) for g in wave
                                   for r in self.replicas[g]))
        if self._router is not None:
            await self._router.close()
        if self._control_server is not None:
            self._control_server.close()
        if self._own_rundir:
            shutil.rmtree(self.rundir, ignore_errors=True)
        else:
            for socket in self.rundir.glob("*.sock"):
                socket.unlink(missing_ok=True)

    async def stop_group(self, group: str) -> None:
        """Stop every replica of ``group`` gracefully and keep it down (fault drills)."""
        await asyncio.gather(*(self._supervisor.stop(r) for r in self.replicas[group]))

    async def start_group(self, group: str) -> None:
        """Bring a stopped group back and wait until its replicas are ready."""
        for replica in self.replicas[group]:
            if replica.task is None or replica.task.done():
                self._supervisor.start(replica)
        self._publish()
        async with asyncio.timeout(self.start_timeout):
            await asyncio.gather(*(r.ready.wait() for r in self.replicas[group]))

    async def scale(self, group: str, replicas: int) -> None:
        """Run ``replicas`` processes of ``group``, leaving every other group alone.

        New replicas take traffic once ready; removed ones (the highest-numbered)
        leave the membership first, then finish their calls in flight and stop,
        so no call is dropped.  A group's variants keep their own replica counts.
        """
        if replicas < 0:
            raise ValueError(f"replicas must be 0 or more, got {replicas}")
        self.topology.group(group)
        async with self._changing:
            primary = self.primary_replicas(group)
            added = [self._new_replica(group) for _ in range(len(primary), replicas)]
            removed = primary[replicas:]
            self.replicas[group] = [r for r in self.replicas[group] if r not in removed]
            self.topology = _with_group(self.topology, group, replicas=replicas)
            for replica in added:
                self._supervisor.start(replica)
            await asyncio.gather(*(self._supervisor.stop(r) for r in removed))
            self._publish()
            failure = await wait_started(added, self.start_timeout)
            if failure is not None:
                raise DeployError(f"scaling group '{group}' to {replicas}: {failure}")
        self.log(f"[supervisor] {group}: {replicas} replica{'s' if replicas != 1 else ''}")

    async def rollout(self, group: str, settings: dict[str, dict[str, Any]] | None = None,
                      version: str | None = None) -> str:
        """Replace ``group``'s replicas with a new version, without dropping a call.

        ``settings`` (component -> keys) are merged into the group's component
        settings.  New replicas start beside the old ones; once all are ready,
        one membership change moves traffic to them, and the old ones drain:
        calls in flight, streams included, finish on the old version.  If a new
        replica fails to start, it is stopped and the old version keeps serving.
        Returns the new version.
        """
        async with self._changing:
            current = self.topology.group(group)
            new_version = version or _next_version(current.version)
            topology = self._rolled_out(group, settings or {}, new_version)
            old = self.primary_replicas(group)
            if self.tls:
                self._rotate_certificate(group)
            new = [self._new_replica(group, topology=topology, serving=False)
                   for _ in range(max(1, len(old)))]
            self.log(f"[supervisor] {group}: rolling out version {new_version} "
                     f"({len(new)} replica{'s' if len(new) != 1 else ''})")
            for replica in new:
                self._supervisor.start(replica)
            failure = await wait_started(new, self.start_timeout)
            if failure is not None:
                await asyncio.gather(*(self._supervisor.stop(r) for r in new))
                self.replicas[group] = [r for r in self.replicas[group] if r not in new]
                raise DeployError(f"rollout of group '{group}' to version {new_version} failed; "
                                  f"version {current.version} keeps serving. {failure}")
            for replica in new:
                replica.serving = True
            for replica in old:
                replica.stopping = True
                replica.address = None
            self.topology = topology
            self._publish()  # one view: the new replicas in, the old ones out
            await asyncio.gather(*(self._supervisor.stop(r) for r in old))
            self.replicas[group] = [r for r in self.replicas[group] if r not in old]
        self.log(f"[supervisor] {group}: version {new_version} serves; "
                 f"version {current.version} drained")
        return new_version

    def _rolled_out(self, group: str, settings: dict[str, dict[str, Any]],
                    version: str) -> Topology:
        """The topology with ``group`` at ``version`` and ``settings`` merged in, validated."""
        components = self.topology.group(group).components
        merged = dict(self.topology.settings)
        for name, table in settings.items():
            if name not in components:
                raise TopologyError(f"rollout of group '{group}': component '{name}' is "
                                    f"not in it (it has {', '.join(components)})")
            merged[name] = {**merged.get(name, {}), **table}
        changed = msgspec.structs.replace(self.topology, settings=merged)
        return validate(_with_group(changed, group, version=version), self.app,
                        source=f"rollout of group '{group}'")

    def _new_replica(self, group: str, variant: str | None = None,
                     topology: Topology | None = None, serving: bool = True) -> Replica:
        index = next(self._indices[group])
        replica = Replica(group, index, topology or self.topology, variant, serving,
                          devices=self._gpus.devices(group, index))
        self.replicas[group].append(replica)
        return replica

    def primary_replicas(self, group: str) -> list[Replica]:
        """The replicas of ``group``'s own version (not of its experiment variants)."""
        return [r for r in self.replicas[group] if r.variant is None]

    # -- what the autoscaler calls ---------------------------------------------------

    def replica_count(self, group: str) -> int:
        """Replicas of ``group``'s own version, running or starting."""
        return len(self.primary_replicas(group))

    async def calls_in_flight(self, group: str) -> int:
        """Calls ``group``'s ready replicas are running now, summed."""
        assert self._router is not None, "the deployment is not started"
        return await calls_in_flight(self._router, self.membership.endpoints(group))

    # -- what Control calls ----------------------------------------------------------

    def info(self) -> DeploymentInfo:
        return DeploymentInfo(self.app.name, self.import_path, self.topology, os.getpid())

    def replica_ready(self, group: str, replica: int, address: str, pid: int) -> None:
        target = self._replica(group, replica)
        if target is None:
            return  # scaled away while it started
        if target.process is None or target.process.pid != pid or target.stopping:
            return  # a late message from a previous incarnation
        target.address = address
        target.state = "ready"
        target.ready.set()
        self._publish()

    def replica_draining(self, group: str, replica: int) -> None:
        target = self._replica(group, replica)
        if target is None:
            return
        target.state = "draining"
        self._unpublish(target)

    async def metrics(self) -> list[ReplicaMetrics]:
        """Call metrics of every ready replica (as ``genweave status`` shows them)."""
        assert self._router is not None, "the deployment is not started"
        return await collect_metrics(self._router, replica_addresses(self.membership))

    def status(self) -> DeploymentStatus:
        return DeploymentStatus(self.app.name, self.topology.name, [
            ReplicaStatus(r.group, r.index, r.state, r.pid, r.restarts,
                          r.topology.group(r.group).version, r.variant or "")
            for r in self._all_replicas()
        ])

    async def next_view(self, after: int) -> MembershipView:
        return await self.membership.next_view(after)

    def _unpublish(self, replica: Replica) -> None:
        if replica.address is not None:
            replica.address = None
            self._publish()

    def _publish(self) -> None:
        def serving(group: str, variant: str | None) -> list[str]:
            return [r.address for r in self.replicas[group]
                    if r.address is not None and r.serving and r.variant == variant]

        groups = {name: serving(name, None) for name in self.replicas}
        splits = {g.name: group_splits(g, groups[g.name], functools.partial(serving, g.name))
                  for g in self.topology.groups if g.variants}
        down = sorted(name for name, replicas in self.replicas.items()
                      if all(r.stopping for r in replicas))
        self.membership.update(MembershipView(self.membership.version + 1, groups, down,
                                              splits))

    # -- client side -------------------------------------------------------------------

    @property
    def control_address_path(self) -> Path:
        return self.rundir / CONTROL_SOCKET

    def proxy(self, component: str) -> ComponentProxy:
        if self._router is None:
            raise DeployError("the deployment is not started")
        spec = self.app.spec(component)
        return remote_proxy(spec, self._router, self.topology.group_of(component).name, CLIENT)

    def pid(self, group: str, replica: int = 0) -> int | None:
        """The process id of replica number ``replica`` of ``group``, if it is running."""
        target = self._replica(group, replica)
        return None if target is None else target.pid

    async def wait_ready(self, group: str, replica: int = 0, timeout: float = 30.0) -> None:
        """Wait until a replica is (again) ready, e.g. after a restart."""
        target = self._replica(group, replica)
        if target is None:
            raise LookupError(f"group '{group}' has no replica {replica}")
        async with asyncio.timeout(timeout):
            while target.address is None:
                await self.membership.next_view(self.membership.version)

    def _replica(self, group: str, index: int) -> Replica | None:
        return next((r for r in self.replicas[group] if r.index == index), None)

    def _all_replicas(self) -> list[Replica]:
        return [r for replicas in self.replicas.values() for r in replicas]

    def _summary(self) -> str:
        return ", ".join(f"{g.name} x{g.replicas}" for g in self.topology.groups)


class _DeployerRouter(Router):
    """The deployer's router, calling as the control identity with its own TLS context.

    Not through ``use_tls``: that registration is per app and per process, and a
    process may run several deployments of one app (a bench: plain TCP beside
    mutual TLS), each with its own CA.
    """

    def __init__(self, *args: Any, tls: ssl.SSLContext | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tls = tls

    def _new_connection(self) -> ClientConnection:
        return ClientConnection(self.app, self.caller, self.max_message_bytes, tls=self.tls)


def _env_gpu_count() -> int | None:
    raw = os.environ.get(GPU_COUNT_ENV)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise TopologyError(f"{GPU_COUNT_ENV}={raw!r}: expected the number of GPUs, e.g. 2")
    return int(raw)


def _with_group(topology: Topology, group: str, **changes: Any) -> Topology:
    return msgspec.structs.replace(topology, groups=tuple(
        msgspec.structs.replace(g, **changes) if g.name == group else g
        for g in topology.groups))


def _next_version(version: str) -> str:
    """``"1"`` -> ``"2"``; a version that is not a number gets a ``.1``-style suffix."""
    if version.isdigit():
        return str(int(version) + 1)
    head, dot, tail = version.rpartition(".")
    return f"{head}.{int(tail) + 1}" if dot and tail.isdigit() else f"{version}.1"
