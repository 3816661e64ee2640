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

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from genweave.application import App
from genweave.deploy.attach import default_rundir
from genweave.deploy.local import log_to_stderr
from genweave.deploy.ray.deployer import RayDeployer
from genweave.deploy.serve import Foreground
from genweave.topology import Topology

__all__ = ["RayService"]


class RayService(Foreground[RayDeployer]):
    """Runs an app on a Ray cluster in the foreground (see the module docstring)."""

    where: ClassVar[str] = " on Ray"

    def __init__(self, app: App, topology: Topology, import_path: str, *,
                 address: str | None = None, rundir: Path | None = None,
                 call: str | None = None, out: Callable[[str], None] = print,
                 log: Callable[[str], None] = log_to_stderr) -> None:
        rundir = rundir or default_rundir(app.name)
        super().__init__(RayDeployer(app, topology, import_path=import_path, address=address,
                                     rundir=rundir, log=log), rundir, call, out)

    def describe(self) -> str:
        deployer = self.deployer
        rows = [f"app '{deployer.app.name}', topology '{deployer.topology.name}' on Ray, "
                f"rundir {self.rundir}"]
        for group in deployer.topology.groups:
            where = [f"{r.pid}@{(r.node or '?')[:8]}" for r in deployer.replicas[group.name]]
            rows.append(f"  group {group.name:<16} x{group.replicas}  "
                        f"pid@node {','.join(where):<24} {', '.join(group.components)}")
        return "\n".join(rows)
