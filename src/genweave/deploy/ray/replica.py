"""One replica of one group inside a Ray actor, hosted exactly as ``genweave worker`` hosts it.

The actor's process runs the same ``Worker`` as every other placement, in a
thread with its own event loop (Ray owns the process's main thread and its
signals); the worker listens on the node's IP with a port of its own, and
tells the deployment's registry where.  Ray re-runs the constructor when it
restarts a dead replica, so the restarted process hosts the group again and
joins membership at its new address with no one asking.  ``stop`` drains it as
SIGTERM drains a worker: out of membership, calls in flight finished.

Example (what ``RayDeployer`` does)::

    actor = cluster.start_actor(ReplicaActor, (spec,), options=actor_options(group, {}))
    await cluster.call(actor, "ready")   # ("tcp:10.0.0.3:41000", node id, pid)
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Final

import msgspec

from genweave.application import load_app
from genweave.deploy.ray.cluster import RayCluster
from genweave.deploy.ray.discovery import RayDiscovery
from genweave.deploy.worker import Worker, WorkerOptions, log_to_stdout
from genweave.topology import Topology

__all__ = ["ReplicaActor", "ReplicaSpec"]

_STOP_MARGIN: Final = 5.0
"""Seconds ``stop`` waits beyond the grace period for the worker to finish."""


class ReplicaSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What a replica actor is started with (Ray passes it again to a restarted one)."""

    app: str
    group: str
    replica: int
    topology: Topology
    registry: str
    """The registry actor's name."""
    grace: float


class ReplicaActor:
    """A Ray actor's body: hosts one replica of one group in a thread of its own."""

    def __init__(self, raw_spec: bytes) -> None:
        spec = msgspec.json.decode(raw_spec, type=ReplicaSpec)
        cluster = RayCluster.inside()
        self.where = f"{spec.group}/{spec.replica}"
        log_to_stdout(f"[{self.where}] ")
        options = WorkerOptions(app=spec.app, group=spec.group, grace=spec.grace,
                                listen=f"tcp:{cluster.node_ip()}:0")
        self.node = cluster.node_id()
        self._loop = asyncio.new_event_loop()
        self._worker: Worker | None = None
        self._serving = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(spec, options, cluster),
                                        name=f"genweave {self.where}", daemon=True)
        self._thread.start()

    def _run(self, spec: ReplicaSpec, options: WorkerOptions, cluster: RayCluster) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._host(spec, options, cluster))
        except BaseException as exc:
            self._failure = exc
            self._serving.set()
            raise

    async def _host(self, spec: ReplicaSpec, options: WorkerOptions,
                    cluster: RayCluster) -> None:
        app = load_app(spec.app)
        discovery = RayDiscovery(app.name, self.where, cluster, cluster.actor(spec.registry))
        self._worker = Worker(options, app, spec.topology, discovery=discovery,
                              where=self.where, replica=spec.replica)
        running = asyncio.create_task(self._worker.run(handle_signals=False))
        serving = asyncio.create_task(self._worker.serving.wait())
        await asyncio.wait({running, serving}, return_when=asyncio.FIRST_COMPLETED)
        serving.cancel()
        if not running.done():
            self._serving.set()
        await running

    def ready(self, timeout: float) -> tuple[str, str, int]:
        """Once the replica serves: its address, its node's id and its pid.

        Raises what stopped the replica from starting (Ray hands it to the caller).
        """
        if not self._serving.wait(timeout):
            raise TimeoutError(f"replica {self.where} did not start within {timeout:g}s")
        if self._failure is not None:
            raise self._failure
        assert self._worker is not None and self._worker.address is not None
        return self._worker.address, self.node, os.getpid()

    def stop(self) -> None:
        """Drain the replica: leave membership, finish calls in flight, run ``on_stop``."""
        worker = self._worker
        if worker is None or not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(worker.stop)
        self._thread.join(worker.options.grace + _STOP_MARGIN)
