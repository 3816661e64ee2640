"""Supervising replica processes: spawn, pump output, restart with backoff, stop by signal.

A ``Replica`` is one process slot of a group, across its restarts.  The
``Supervisor`` runs each one as ``python -m genweave worker ... --discovery
local`` (the one worker command; what only the supervisor knows goes in
``$GENWEAVE_WORKER``) in its own session (so a signal reaches the whole process
group), prefixes every output line with ``[group/replica]``, restarts a replica
that dies after it was ready (with exponential backoff, reset once a run lasted
``STABLE_AFTER`` seconds) and stops one with SIGTERM, then SIGKILL if it outlives its grace period.
What the replicas serve, and who may call them, is the deployer's business.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from genweave.deploy.control import WORKER_ENV, WorkerSpec, worker_arguments
from genweave.deploy.rundir import TLS_DIR_ENV
from genweave.runtime.introspect import ReplicaState
from genweave.topology import Topology

__all__ = ["VISIBLE_DEVICES_ENV", "WORKER_MODULE", "Replica", "Supervisor", "wait_started"]

WORKER_MODULE: Final = "genweave"
"""What each replica process runs: ``python -m genweave worker ...``."""
BACKOFF_FIRST: Final = 0.1
BACKOFF_MAX: Final = 10.0
STABLE_AFTER: Final = 30.0
"""A replica that ran this long before dying restarts without accumulated backoff."""
KILL_AFTER_GRACE: Final = 2.0
"""Seconds past its grace period that a stopping replica gets before SIGKILL."""
LOG_TAIL: Final = 30
"""Output lines kept per replica, shown when it fails to start."""
VISIBLE_DEVICES_ENV: Final = "CUDA_VISIBLE_DEVICES"
"""How a replica is told which GPUs are its own (CUDA numbers the visible ones from 0)."""


@dataclass(eq=False)
class Replica:
    """One process of a group, across its restarts."""

    group: str
    index: int
    topology: Topology
    """What this replica runs: a rollout starts new replicas with a new topology."""
    variant: str | None = None
    serving: bool = True
    """Whether it takes traffic once ready (new replicas of a rollout wait for the switch)."""
    devices: tuple[int, ...] = ()
    """The GPUs it sees (``CUDA_VISIBLE_DEVICES``); empty: its environment is left alone."""
    process: asyncio.subprocess.Process | None = None
    address: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the replica was first ready; readiness now is ``address is not None``."""
    stopping: bool = False
    restarts: int = 0
    logs: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=LOG_TAIL))
    task: asyncio.Task[None] | None = None
    state: ReplicaState = "starting"

    @property
    def name(self) -> str:
        return f"{self.group}/{self.index}"

    @property
    def pid(self) -> int | None:
        """The process id while its process runs, else ``None``."""
        process = self.process
        return None if process is None or process.returncode is not None else process.pid


class Supervisor:
    """Runs the replica processes of one deployment.

    ``on_gone`` is called whenever a replica stops serving (it exited, or it is
    being stopped), so the deployer takes it out of the membership at once.

    Example::

        supervisor = Supervisor("app:app", "unix:/run/control.sock", rundir, 10.0, print,
                                on_gone=lambda replica: None)
        supervisor.start(replica)
        await wait_started([replica], timeout=60)
        await supervisor.stop(replica)
    """

    def __init__(self, import_path: str, control: str, rundir: Path, grace: float,
                 log: Callable[[str], None], on_gone: Callable[[Replica], None]) -> None:
        self.import_path = import_path
        self.control = control
        self.rundir = rundir
        self.grace = grace
        self.log = log
        self.on_gone = on_gone
        self.closing = False
        """Set when the whole deployment stops: no replica restarts any more."""
        self.tls_dir: Path | None = None
        """Where replicas on TCP find the app's CA and their group's certificate."""

    def start(self, replica: Replica) -> None:
        """Run ``replica`` (again, if it was stopped) until it is stopped."""
        replica.stopping = False
        replica.state = "starting"
        if replica.task is not None:
            replica.ready = asyncio.Event()  # a second start: wait for this run's readiness
        replica.task = asyncio.create_task(self._supervise(replica))

    async def stop(self, replica: Replica) -> None:
        """Stop ``replica`` gracefully (SIGTERM: it finishes its calls), else kill it."""
        replica.stopping = True
        self.on_gone(replica)
        process = replica.process
        if process is not None and process.returncode is None:
            _signal_group(process, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.grace + KILL_AFTER_GRACE)
            except TimeoutError:
                self.log(f"[supervisor] {replica.name} did not stop in time; killing it")
                _signal_group(process, signal.SIGKILL)
        if replica.task is not None:
            await replica.task

    async def _supervise(self, replica: Replica) -> None:
        delay = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        while not (self.closing or replica.stopping):
            started = loop.time()
            process = await self._spawn(replica)
            pump = asyncio.create_task(self._pump(replica, process))
            code = await process.wait()
            await pump
            self.on_gone(replica)
            if self.closing or replica.stopping:
                replica.state = "stopped"
                return
            if not replica.ready.is_set():
                replica.state = "failed"
                return
            replica.state = "restarting"
            delay = BACKOFF_FIRST if loop.time() - started > STABLE_AFTER else delay
            self.log(f"[supervisor] {replica.name} exited with code {code}; "
                     f"restarting in {delay:.1f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
            replica.restarts += 1
            replica.state = "starting"

    async def _spawn(self, replica: Replica) -> asyncio.subprocess.Process:
        if replica.topology.transport == "tcp":
            address = "tcp:127.0.0.1:0"
        else:
            address = f"unix:{self.rundir / f'{replica.group}-{replica.index}.sock'}"
        spec = WorkerSpec(self.import_path, replica.topology, replica.group, replica.index,
                          address, self.control, os.getpid(), self.grace, replica.variant)
        env = {**os.environ, WORKER_ENV: msgspec.json.encode(spec).decode(),
               "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path),
               "PYTHONUNBUFFERED": "1"}
        if self.tls_dir is not None and replica.topology.transport == "tcp":
            env[TLS_DIR_ENV] = str(self.tls_dir)
        if replica.devices:
            env[VISIBLE_DEVICES_ENV] = ",".join(str(d) for d in replica.devices)
        replica.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", WORKER_MODULE, *worker_arguments(spec),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True,
        )
        return replica.process

    async def _pump(self, replica: Replica, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            replica.logs.append(line)
            self.log(f"[{replica.name}] {line}")


async def wait_started(replicas: list[Replica], timeout: float) -> str | None:
    """Wait until every replica is ready; else say why not (its output, or a timeout)."""
    ready: asyncio.Future[Any] = asyncio.gather(*(r.ready.wait() for r in replicas))
    tasks = [r.task for r in replicas if r.task is not None]
    done, _ = await asyncio.wait([ready, *tasks], timeout=timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    if ready in done:
        return None
    ready.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ready
    failed = next((r for r in replicas if r.task in done), None)
    if failed is None:
        waiting = [r.name for r in replicas if not r.ready.is_set()]
        return f"replicas {', '.join(waiting)} not ready within {timeout:g}s"
    tail = "\n".join(f"    {line}" for line in failed.logs)
    return f"replica {failed.name} exited before it was ready; its last output:\n{tail}"


def _signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
