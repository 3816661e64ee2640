"""``genweave run MODULE:APP --on ray``: a Ray deployment in the foreground until SIGINT/SIGTERM.

What ``genweave run`` does under the local supervisor, with the replicas on a
Ray cluster: the same control socket in the same rundir (so ``genweave
status``, ``call`` and ``scale --app NAME`` attach to it the same way), the
groups and where they run printed, then served until a signal; the signal
handlers only enqueue, the loop dispatches to ``handle_<signal>``.

Example::

    service = RayService(app, preset("hybrid", app), "examples.hello:app", address="auto")
    sys.exit(asyncio.run(service.run()))
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

from genweave.application import App
from genweave.deploy.attach import default_rundir
from genweave.deploy.invoke import invoke
from genweave.deploy.local import log_to_stderr
from genweave.deploy.ray.deployer import RayDeployer
from genweave.topology import Topology

__all__ = ["RayService"]


class RayService:
    """Runs an app on a Ray cluster in the foreground (see the module docstring)."""

    def __init__(self, app: App, topology: Topology, import_path: str, *,
                 address: str | None = None, rundir: Path | None = None,
                 call: str | None = None, out: Callable[[str], None] = print,
                 log: Callable[[str], None] = log_to_stderr) -> None:
        self.rundir = rundir or default_rundir(app.name)
        self.deployer = RayDeployer(app, topology, import_path=import_path, address=address,
                                    rundir=self.rundir, log=log)
        self.call = call
        self.out = out
        self.signals: asyncio.Queue[signal.Signals] = asyncio.Queue()
        self.should_exit = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.signals.put_nowait, sig)
        await self.deployer.start()
        try:
            self.out(self.describe())
            if self.call:
                try:
                    await invoke(self.deployer, self.call, self.out)
                except Exception as exc:
                    self.out(f"call failed: {type(exc).__name__}: {exc}")
            self.out("serving on Ray; press Ctrl-C to stop")
            while not self.should_exit:
                sig = await self.signals.get()
                getattr(self, f"handle_{sig.name.lower()}")()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.deployer.stop()
        return 0

    def handle_sigint(self) -> None:
        self.out("stopping: finishing calls in flight (Ctrl-C again does not hurry it)")
        self.should_exit = True

    def handle_sigterm(self) -> None:
        self.should_exit = True

    def describe(self) -> str:
        deployer = self.deployer
        rows = [f"app '{deployer.app.name}', topology '{deployer.topology.name}' on Ray, "
                f"rundir {self.rundir}"]
        for group in deployer.topology.groups:
            where = [f"{r.pid}@{(r.node or '?')[:8]}" for r in deployer.replicas[group.name]]
            rows.append(f"  group {group.name:<16} x{group.replicas}  "
                        f"pid@node {','.join(where):<24} {', '.join(group.components)}")
        return "\n".join(rows)
