"""Deployers: turn an app and a topology into running groups.

``placement`` chooses where the groups run:

- ``process``: one OS process per group replica under the local supervisor
  (what ``genweave run`` does);
- ``codec``: every group in this process, calls between groups through the
  real RPC protocol over an in-memory transport;
- ``inprocess``: every component in this process, every Ref a direct call;
- ``ray``: one Ray actor per group replica on a Ray cluster (``address``, see
  ``genweave.deploy.ray``; needs ``genweave[ray]``).  Not in ``PLACEMENTS``,
  the placements every test runs on every machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Literal

from genweave.application import App, load_app
from genweave.deploy.base import Deployment
from genweave.deploy.inprocess import InProcessDeployment
from genweave.deploy.local import DeployError, LocalDeployer
from genweave.deploy.ray import RayDeployer
from genweave.topology import Topology, resolve_topology

__all__ = ["PLACEMENTS", "DeployError", "Deployment", "LocalDeployer", "deploy", "deployment"]

Placement = Literal["process", "codec", "inprocess", "ray"]
PLACEMENTS: Final = ("inprocess", "codec", "process")


def deployment(app: App | str, topology: str | Path | Topology | None = None,
               placement: Placement = "process", **options: Any) -> Deployment:
    """Build (without starting) a deployment of ``app``.

    ``app`` is an ``App`` or its ``"module:attribute"`` import path; ``topology``
    a preset name, a TOML path or a ``Topology``.  ``options`` go to the deployer.
    """
    import_path = app if isinstance(app, str) else None
    resolved_app = load_app(app) if isinstance(app, str) else app
    resolved = resolve_topology(topology, resolved_app)
    if placement == "process":
        return LocalDeployer(resolved_app, resolved, import_path=import_path, **options)
    if placement in ("codec", "inprocess"):
        return InProcessDeployment(resolved_app, resolved, codec=placement == "codec", **options)
    if placement == "ray":
        return RayDeployer(resolved_app, resolved, import_path=import_path, **options)
    raise ValueError(f"unknown placement {placement!r}; choose one of "
                     f"{', '.join((*PLACEMENTS, 'ray'))}")


@asynccontextmanager
async def deploy(app: App | str, topology: str | Path | Topology | None = None,
                 placement: Placement = "process", **options: Any) -> AsyncIterator[Deployment]:
    """Run ``app`` for the duration of the block.

    Example::

        async with deploy(app, topology="microservices") as running:
            print(await running.get(Frontend).hello("world"))
    """
    running = deployment(app, topology, placement, **options)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
