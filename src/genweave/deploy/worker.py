"""One replica of one group: ``genweave worker``, the one way a replica runs.

::

    genweave worker MODULE:APP --group NAME [--topology FILE] --listen tcp:0.0.0.0:7070
        [--advertise HOST:PORT] [--discovery local|dns|static] [--probe-port 8080]
        [--grace SECONDS] [--variant NAME] [--peer-port 7070]

Who starts it differs, never what it does: the local supervisor runs it with
``--discovery local`` (and what only the supervisor knows in
``$GENWEAVE_WORKER``: its control socket, the replica's number, its own pid and
the exact topology, which after a rollout is in no file); a Kubernetes
Deployment with ``--discovery dns``; a service manager on a VM with
``--discovery static``.  Then:

1. the probe port (if any) answers: ``/healthz`` 200, ``/readyz`` 503;
2. it hosts the group (``on_start`` hooks run), listens, joins membership
   (the supervisor is told; DNS and static callers find it themselves), and
   ``/readyz`` answers 200;
3. on SIGTERM (or when its supervisor disappears) ``/readyz`` answers 503, it
   leaves membership, stops accepting connections, refuses new calls while its
   calls in flight finish within ``--grace`` seconds, runs ``on_stop`` hooks
   and exits 0.

Logs go to stdout, one line per event.  The supervisor prefixes each line with
``[group/replica]``; without one the worker does it itself, with
``[group/address]``.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Final, Literal

import msgspec

from genweave.application import App, load_app
from genweave.deploy.attach import ControlLink, SupervisedRuntime
from genweave.deploy.control import WORKER_ENV, WorkerSpec
from genweave.deploy.local import DEFAULT_GRACE, DeployError
from genweave.deploy.probes import ProbeServer
from genweave.deploy.rundir import TLS_DIR_ENV
from genweave.observe.metrics import REGISTRY, ReplicaMetrics
from genweave.observe.prometheus import ReplicaRow, call_families, exposition, replica_families
from genweave.runtime.authorization import granted_calls
from genweave.runtime.callee import Callee
from genweave.runtime.discovery import (
    DEFAULT_PEER_PORT,
    DiscoveredRuntime,
    Discovery,
    DnsDiscovery,
    StaticDiscovery,
)
from genweave.runtime.host import Host
from genweave.runtime.introspect import Runtime
from genweave.runtime.router import Router
from genweave.topology import Topology, resolve_topology
from genweave.transport.endpoints import listen
from genweave.transport.tls import TlsFiles, use_tls

__all__ = ["DISCOVERIES", "Worker", "WorkerOptions", "log_to_stdout", "serve_replica"]

DiscoveryKind = Literal["local", "dns", "static"]
DISCOVERIES: Final = ("local", "dns", "static")
_PR_SET_PDEATHSIG: Final = 1
_DISCOVERY_LOST: Final = "supervisor-lost"
_EVERY_INTERFACE: Final = frozenset({"0.0.0.0", "::", "[::]", ""})
_FORMAT: Final = "%(levelname)s %(name)s: %(message)s"

logger = logging.getLogger("genweave.worker")


class WorkerOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What ``genweave worker``'s flags say (see the module docstring)."""

    app: str
    group: str
    listen: str
    discovery: DiscoveryKind = "static"
    topology: str | None = None
    """A preset name or a topology file (dns and static; local gets the supervisor's)."""
    advertise: str | None = None
    """Where callers reach this replica (``HOST:PORT``); default: the bound listen address."""
    probe_port: int = 0
    """Where ``/healthz``, ``/readyz`` and ``/metrics`` are served; 0: nowhere."""
    grace: float = DEFAULT_GRACE
    variant: str | None = None
    peer_port: int = DEFAULT_PEER_PORT
    """The port other groups' replicas serve calls on (DNS answers name hosts only)."""


class Worker:
    """The main loop of a replica: signals, or losing the supervisor, only enqueue an event;
    the loop serves until the first one, then drains and stops."""

    def __init__(self, options: WorkerOptions, app: App, topology: Topology,
                 supervised: WorkerSpec | None = None, *, discovery: Discovery | None = None,
                 where: str | None = None, replica: int = 0) -> None:
        """``discovery``, ``where`` and ``replica`` are for hosts that start replicas themselves
        (a Ray actor): their discovery, the replica's name in logs and its number."""
        self.options = options
        self.app = app
        self.topology = topology
        self.supervised = supervised
        self.group = topology.group(options.group)
        if options.variant is not None:
            self.group.variant(options.variant)
        self.advertise = _advertised(options)
        self.replica = supervised.replica if supervised is not None else replica
        self.where = where or (f"{options.group}/{supervised.replica}" if supervised is not None
                               else f"{options.group}/{self.advertise.partition(':')[2]}")
        self.events: asyncio.Queue[signal.Signals | str] = asyncio.Queue()
        self.discovery = discovery or self._discovery()
        self._bound_is_advertised = supervised is not None or (
            discovery is not None and not options.advertise)
        """Whether callers reach this replica at the address it bound (a port chosen at bind)."""
        self.address: str | None = None
        """Where callers reach this replica, once it serves."""
        self.serving = asyncio.Event()
        """Set once the replica serves and has joined membership."""
        self.probes = (ProbeServer(_probe_host(options.listen), options.probe_port, self.metrics)
                       if options.probe_port else None)

    def _discovery(self) -> Discovery:
        options, app = self.options, self.app
        if self.supervised is not None:
            return ControlLink(app.name, self.supervised.control, self.where)
        if options.discovery == "dns":
            return DnsDiscovery(app.name, self.where, self.topology, peer_port=options.peer_port)
        static = StaticDiscovery(app.name, self.where, self.topology)
        static.require(self.called_groups(), f"group '{options.group}'")
        return static

    def called_groups(self) -> set[str]:
        """The other groups whose components this group's components call through Refs."""
        mine = set(self.group.components)
        return {self.topology.group_of(callee).name
                for caller, callees in self.app.dependencies().items() if caller in mine
                for callee in callees if callee not in mine}

    def metrics(self) -> bytes:
        """This replica's ``/metrics``: its calls, and whether it takes calls now."""
        mine = ReplicaMetrics(self.where, os.getpid(), time.time() - REGISTRY.started,
                              REGISTRY.snapshot(), REGISTRY.variants_snapshot())
        ready = self.probes is not None and self.probes.state == "ready"
        row = ReplicaRow(self.group.name, self.where, self.group.version,
                         self.options.variant or "", ready, 0)
        return exposition([*call_families([mine]), *replica_families([row])])

    async def run(self, handle_signals: bool = True) -> int:
        """Serve until the first event (a signal, losing the supervisor, ``stop``), then drain.

        ``handle_signals=False`` where the process is not the replica's own (a
        thread of a Ray actor): whoever hosts it calls ``stop`` instead.
        """
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.events.put_nowait, sig)
        served = await self._serve()
        event = await self.events.get()
        await self._drain(event, *served)
        return 0

    def stop(self, reason: str = "stopped") -> None:
        """Ask the replica to drain and stop (from its own event loop's thread)."""
        self.events.put_nowait(reason)

    async def _serve(self) -> tuple[Host, Router, Callee, asyncio.AbstractServer | None]:
        options, discovery = self.options, self.discovery
        if self.probes is not None:
            await self.probes.start()
        router = Router(self.app.name, self.where, discovery.membership,
                        max_message_bytes=self.topology.max_message_bytes,
                        limits=self.topology.limits(), on_unreachable=discovery.unreachable)
        await discovery.start(on_lost=lambda: self.events.put_nowait(_DISCOVERY_LOST))
        host = Host.for_group(self.app, self.topology, self.group.name, router,
                              self._runtime(router), options.variant)
        await host.start()
        dispatcher = host.dispatcher(self.where, self.group.max_in_flight)
        dispatcher.enforce(granted_calls(self.app, self.topology))
        server, address = await listen(options.listen, dispatcher)
        self.address = address if self._bound_is_advertised else self.advertise
        await discovery.joined(self.group.name, self.replica, self.address, os.getpid())
        if self.probes is not None:
            self.probes.state = "ready"
        logger.info("ready at %s", self.address)
        self.serving.set()
        return host, router, dispatcher, server

    async def _drain(self, event: signal.Signals | str, host: Host, router: Router,
                     dispatcher: Callee, server: asyncio.AbstractServer | None) -> None:
        options, discovery = self.options, self.discovery
        if self.probes is not None:
            self.probes.state = "draining"
        logger.info("stopping (%s): finishing calls in flight", getattr(event, "name", event))
        if event != _DISCOVERY_LOST:
            try:
                await discovery.leaving(self.group.name, self.replica)
            except Exception:
                logger.warning("could not tell the supervisor that this replica drains")
        if server is not None:
            server.close()
        if not await dispatcher.drain(options.grace):
            logger.warning("%d calls still running after %.1fs grace", dispatcher.in_flight,
                           options.grace)
        await host.stop()
        await router.close()
        await discovery.close()
        if self.probes is not None:
            await self.probes.close()
        logger.info("stopped")

    def _runtime(self, router: Router) -> Runtime:
        if isinstance(self.discovery, ControlLink):
            return SupervisedRuntime(self.app, self.topology, self.where, self.discovery, router)
        return DiscoveredRuntime(self.app, self.topology, self.where, self.discovery, router)



async def serve_replica(options: WorkerOptions) -> int:
    """Run the replica ``options`` describe until it is told to stop; its exit code.

    Example::

        await serve_replica(WorkerOptions(app="examples.hello:app", group="main",
                                          listen="tcp:127.0.0.2:7070", discovery="static"))
    """
    supervised = _supervised(options)
    app = load_app(options.app)
    if supervised is not None:
        topology = supervised.topology
    else:
        topology = resolve_topology(options.topology, app)
    worker = Worker(options, app, topology, supervised)  # every flag checked before any output
    if os.environ.get(TLS_DIR_ENV):  # mutual TLS over TCP, as this group
        use_tls(app.name, TlsFiles.in_directory(Path(os.environ[TLS_DIR_ENV]), options.group))
    log_to_stdout("" if supervised is not None else f"[{worker.where}] ")
    if options.listen.startswith("tcp:") and not os.environ.get(TLS_DIR_ENV):
        logger.warning("calls over %s are plain TCP: callers are not authenticated and their "
                       "group is taken at its word; set $%s to a directory of certificates "
                       "('genweave certs') for mutual TLS", options.listen, TLS_DIR_ENV)
    return await worker.run()


def log_to_stdout(prefix: str) -> None:
    """A replica's logs: one line per event on stdout, each line starting with ``prefix``."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format=prefix + _FORMAT,
                        force=True)


def _supervised(options: WorkerOptions) -> WorkerSpec | None:
    """The supervisor's ``WorkerSpec`` for ``--discovery local``; it must match the flags."""
    if options.discovery != "local":
        return None
    raw = os.environ.get(WORKER_ENV)
    if raw is None:
        raise DeployError(f"--discovery local is for replicas the local supervisor starts (it "
                          f"passes ${WORKER_ENV}); run 'genweave run', or choose --discovery dns "
                          "or static")
    spec = msgspec.json.decode(raw, type=WorkerSpec)
    if (spec.app, spec.group, spec.variant) != (options.app, options.group, options.variant):
        raise DeployError(f"${WORKER_ENV} describes {spec.app} group '{spec.group}', the flags "
                          f"{options.app} group '{options.group}'")
    _die_with_parent(spec.supervisor_pid)
    return spec


def _advertised(options: WorkerOptions) -> str:
    """The address callers reach this replica at, as ``tcp:HOST:PORT`` (or the unix path)."""
    if options.advertise:
        advertise = options.advertise
        return advertise if advertise.startswith(("tcp:", "unix:")) else f"tcp:{advertise}"
    scheme, _, rest = options.listen.partition(":")
    host = rest.rpartition(":")[0]
    if scheme == "tcp" and host in _EVERY_INTERFACE and options.discovery != "local":
        raise DeployError(f"--listen {options.listen} binds every interface, which is no address "
                          "a caller can reach; say where callers reach this replica with "
                          "--advertise HOST:PORT (in Kubernetes: --advertise $(POD_IP):7070)")
    return options.listen


def _probe_host(listen: str) -> str:
    """Probes listen beside the calls: on the same host (loopback for a unix socket)."""
    scheme, _, rest = listen.partition(":")
    return rest.rpartition(":")[0] if scheme == "tcp" else "127.0.0.1"


def _die_with_parent(supervisor_pid: int) -> None:
    """Ask Linux to SIGTERM us if the supervisor dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:  # it died before prctl took effect
        sys.exit("genweave worker: supervisor is gone")
