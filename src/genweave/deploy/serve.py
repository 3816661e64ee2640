"""``genweave run``: supervise an app in the foreground until SIGINT/SIGTERM, then stop it.

Signal handlers only enqueue; the main loop dispatches to ``handle_<signal>``
methods, so tests drive it by putting signals in the queue.
"""

from __future__ import annotations

import abc
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from genweave.application import App
from genweave.deploy.attach import default_rundir
from genweave.deploy.base import Deployment
from genweave.deploy.control import CONTROL_SOCKET
from genweave.deploy.invoke import invoke
from genweave.deploy.local import DeployError, LocalDeployer, log_to_stderr
from genweave.topology import Topology

__all__ = ["Foreground", "ForegroundService"]

D = TypeVar("D", bound=Deployment)
OnReady = Callable[[D], Coroutine[Any, Any, None]]


class Foreground(abc.ABC, Generic[D]):
    """A deployment run in the foreground, as a service manager would run it.

    It refuses to start a second copy on the same rundir (whose control socket
    the CLI attaches to), prints the groups and where they run, makes the
    ``call`` if one is given, runs ``on_ready``, and serves until SIGINT or
    SIGTERM; then it stops the deployment gracefully, also when something
    before failed.  ``out`` gets what it reports.  Each deployer has its
    subclass (``ForegroundService`` here, ``RayService`` for Ray), which says
    how it describes its replicas.
    """

    where: ClassVar[str] = ""
    """How the serving line names the place, e.g. `` on Ray``."""

    def __init__(self, deployer: D, rundir: Path, call: str | None = None,
                 out: Callable[[str], None] = print, on_ready: OnReady[D] | None = None) -> None:
        self.deployer = deployer
        self.rundir = rundir
        self.call = call
        self.out = out
        self.on_ready = on_ready
        self.signals: asyncio.Queue[signal.Signals] = asyncio.Queue()
        self.should_exit = False

    async def run(self) -> int:
        self._refuse_second_instance()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.signals.put_nowait, sig)
        try:
            await self.deployer.start()
            self.out(self.describe())
            if self.call:
                try:
                    await invoke(self.deployer, self.call, self.out)
                except Exception as exc:
                    self.out(f"call failed: {type(exc).__name__}: {exc}")
            if self.on_ready is not None:
                ready = asyncio.create_task(self.on_ready(self.deployer))
                ready.add_done_callback(self._report)
            self.out(f"serving{self.where}; press Ctrl-C to stop")
            while not self.should_exit:
                sig = await self.signals.get()
                getattr(self, f"handle_{sig.name.lower()}")()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.deployer.stop()
        return 0

    def _report(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.out(f"startup task failed: {type(error).__name__}: {error}")

    def handle_sigint(self) -> None:
        self.out("stopping: finishing calls in flight (Ctrl-C again does not hurry it)")
        self.should_exit = True

    def handle_sigterm(self) -> None:
        self.should_exit = True

    @abc.abstractmethod
    def describe(self) -> str:
        """The app, its topology and rundir, and one line per group: where its replicas run."""

    def _refuse_second_instance(self) -> None:
        socket = self.rundir / CONTROL_SOCKET
        if socket.exists() and _is_listening(socket):
            raise DeployError(f"'{self.deployer.app.name}' is already running with rundir "
                              f"{self.rundir}; stop it or pass --rundir")


class ForegroundService(Foreground[LocalDeployer]):
    """Runs an app under a ``LocalDeployer`` in the foreground (``genweave run``).

    ``log`` gets every line of the supervisor and the replicas (default: stderr).

    Example::

        service = ForegroundService(app, preset("hybrid", app), "examples.hello:app")
        sys.exit(asyncio.run(service.run()))
    """

    def __init__(self, app: App, topology: Topology, import_path: str,
                 rundir: Path | None = None, call: str | None = None,
                 out: Callable[[str], None] = print,
                 on_ready: OnReady[LocalDeployer] | None = None,
                 log: Callable[[str], None] = log_to_stderr) -> None:
        rundir = rundir or default_rundir(app.name)
        super().__init__(LocalDeployer(app, topology, import_path=import_path, rundir=rundir,
                                       log=log), rundir, call, out, on_ready)

    def describe(self) -> str:
        deployer = self.deployer
        rows = [f"app '{deployer.app.name}', topology '{deployer.topology.name}', "
                f"rundir {self.rundir}"]
        for group in deployer.topology.groups:
            pids = [str(deployer.pid(group.name, i)) for i in range(group.replicas)]
            rows.append(f"  group {group.name:<16} x{group.replicas}  "
                        f"pids {','.join(pids):<14} {', '.join(group.components)}")
        return "\n".join(rows)


def _is_listening(path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


if sys.platform == "win32":  # pragma: no cover
    raise ImportError("the local deployer needs a POSIX system")
