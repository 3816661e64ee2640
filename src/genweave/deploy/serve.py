"""``genweave run``: supervise an app in the foreground until SIGINT/SIGTERM, then stop it.

Signal handlers only enqueue; the main loop dispatches to ``handle_<signal>``
methods, so tests drive it by putting signals in the queue.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from genweave.application import App
from genweave.deploy.attach import default_rundir
from genweave.deploy.control import CONTROL_SOCKET
from genweave.deploy.invoke import invoke
from genweave.deploy.local import DeployError, LocalDeployer, log_to_stderr
from genweave.topology import Topology

__all__ = ["ForegroundService"]


class ForegroundService:
    """Runs an app under a ``LocalDeployer`` in the foreground, as a service manager would.

    It refuses to start a second copy on the same rundir (whose control socket
    the CLI attaches to), prints the groups and their pids, makes the ``call``
    if one is given, runs ``on_ready``, and serves until SIGINT or SIGTERM;
    then it stops the deployment gracefully.  ``out`` gets what it reports,
    ``log`` every line of the supervisor and the replicas (default: stderr).

    Example::

        service = ForegroundService(app, preset("hybrid", app), "examples.hello:app")
        sys.exit(asyncio.run(service.run()))
    """

    def __init__(self, app: App, topology: Topology, import_path: str,
                 rundir: Path | None = None, call: str | None = None,
                 out: Callable[[str], None] = print,
                 on_ready: Callable[[LocalDeployer], Coroutine[Any, Any, None]] | None = None,
                 log: Callable[[str], None] = log_to_stderr) -> None:
        self.rundir = rundir or default_rundir(app.name)
        self.deployer = LocalDeployer(app, topology, import_path=import_path, rundir=self.rundir,
                                      log=log)
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
        self.out("serving; press Ctrl-C to stop")
        while not self.should_exit:
            sig = await self.signals.get()
            getattr(self, f"handle_{sig.name.lower()}")()
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

    def describe(self) -> str:
        rows = [f"app '{self.deployer.app.name}', topology '{self.deployer.topology.name}', "
                f"rundir {self.rundir}"]
        for group in self.deployer.topology.groups:
            pids = [str(self.deployer.pid(group.name, i)) for i in range(group.replicas)]
            rows.append(f"  group {group.name:<16} x{group.replicas}  "
                        f"pids {','.join(pids):<14} {', '.join(group.components)}")
        return "\n".join(rows)

    def _refuse_second_instance(self) -> None:
        socket = self.rundir / CONTROL_SOCKET
        if socket.exists() and _is_listening(socket):
            raise DeployError(f"'{self.deployer.app.name}' is already running with rundir "
                              f"{self.rundir}; stop it or pass --rundir")


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
