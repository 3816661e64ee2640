"""Ray discovery: each group's replicas as the deployment's registry actor lists them.

The caller long-polls the registry (``Registry.next_view``) and hands every
view to the shared rule (``genweave.runtime.discovery.base``): a failed
connection takes an address out at once, a probe brings it back.  A replica
tells the registry when it serves and when it drains; after Ray restarts a
replica, its new process tells it again, at its new address.  If the registry
cannot be reached (the cluster is gone) the discovery keeps its last view,
logs it once, and tries again every ``RETRY_INTERVAL`` seconds.

Example::

    discovery = RayDiscovery("assistant", "core/0", cluster, cluster.actor(registry_name))
    await discovery.start()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

from genweave.deploy.ray.cluster import ActorGone, ActorHandle, RayCluster
from genweave.deploy.ray.registry import decode_view
from genweave.runtime.discovery import Discovery

__all__ = ["RETRY_INTERVAL", "RayDiscovery"]

RETRY_INTERVAL: Final = 1.0
"""Seconds between two attempts to reach a registry that did not answer."""
_TELL_TIMEOUT: Final = 10.0

logger = logging.getLogger("genweave.discovery")


class RayDiscovery(Discovery):
    """Replicas as a Ray deployment's registry lists them (see the module docstring)."""

    log_changes = True

    def __init__(self, app: str, caller: str, cluster: RayCluster, registry: ActorHandle,
                 **options: float) -> None:
        super().__init__(app, caller, **options)
        self._cluster = cluster
        self._registry = registry
        self._following: asyncio.Task[None] | None = None

    async def start(self, on_lost: Callable[[], None] = lambda: None) -> None:
        await super().start(on_lost)
        self._following = asyncio.create_task(self._follow())

    async def joined(self, group: str, replica: int, address: str, pid: int) -> None:
        await self._cluster.call(self._registry, "joined", group, replica, address,
                                 timeout=_TELL_TIMEOUT)

    async def leaving(self, group: str, replica: int) -> None:
        await self._cluster.call(self._registry, "leaving", group, replica,
                                 timeout=_TELL_TIMEOUT)

    async def _follow(self) -> None:
        version, lost = 0, False
        while True:
            try:
                raw = await self._cluster.call(self._registry, "next_view", version)
            except ActorGone as exc:
                if not lost:
                    logger.warning("the Ray registry does not answer (%s); keeping the last "
                                   "replicas", exc)
                lost = True
                await asyncio.sleep(RETRY_INTERVAL)
                continue
            if lost:
                logger.info("the Ray registry answers again")
            lost = False
            view = decode_view(raw)
            version = view.version
            self.listed(view)

    async def close(self) -> None:
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
        await super().close()
