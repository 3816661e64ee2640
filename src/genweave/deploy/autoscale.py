"""Autoscaling one group: replicas follow the calls in flight, measured at the replicas.

Every ``interval`` seconds the autoscaler asks each ready replica of the group
how many calls it is running (``genweave.Admin.load``) and wants
``ceil(total / target_in_flight)`` replicas, within ``[min, max]``.  It grows
only when every sample of the last ``up_delay`` seconds wanted more, and
shrinks only when none of the last ``down_delay`` seconds wanted as many: the
Kubernetes HPA's stabilisation windows, which keep bursts from making replicas
flap.  Other groups are never touched.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from genweave.component import spec_of
from genweave.errors import GenweaveError
from genweave.runtime.introspect import Admin, ReplicaLoad
from genweave.runtime.router import Router
from genweave.topology import Autoscale

if TYPE_CHECKING:
    from genweave.deploy.local import LocalDeployer

__all__ = ["Autoscaler", "ScalePlan"]

logger = logging.getLogger("genweave.autoscale")

SAMPLE_TIMEOUT: Final = 2.0


class ScalePlan:
    """The decision rule, apart from any process: feed it samples, it says when to scale."""

    def __init__(self, settings: Autoscale) -> None:
        self.settings = settings
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._since: float | None = None
        """When the current window of samples began (start, or the last change)."""

    def wanted(self, in_flight: float) -> int:
        s = self.settings
        return min(s.max, max(s.min, math.ceil(in_flight / s.target_in_flight)))

    def observe(self, now: float, in_flight: float, current: int) -> int | None:
        """Record a sample; return the replica count to scale to, or ``None`` to stay."""
        s = self.settings
        if not s.min <= current <= s.max:
            return min(s.max, max(s.min, current))
        if self._since is None:
            self._since = now
        self._samples.append((now, self.wanted(in_flight)))
        horizon = now - max(s.up_delay, s.down_delay)
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        waited = now - self._since
        grow = min(w for t, w in self._samples if t >= now - s.up_delay)
        if grow > current and waited >= s.up_delay:
            return grow
        shrink = max(w for t, w in self._samples if t >= now - s.down_delay)
        if shrink < current and waited >= s.down_delay:
            return shrink
        return None

    def changed(self, now: float) -> None:
        """The group was scaled: judge the new size on fresh samples only."""
        self._samples.clear()
        self._since = now


class Autoscaler:
    """Runs a ``ScalePlan`` against one group of a ``LocalDeployer``."""

    def __init__(self, deployer: LocalDeployer, group: str, settings: Autoscale, router: Router,
                 log: Callable[[str], None]) -> None:
        self.deployer = deployer
        self.group = group
        self.plan = ScalePlan(settings)
        self.log = log
        self._router = router
        self._load = spec_of(Admin).methods["load"]
        self.last_in_flight = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.plan.settings.interval)
            try:
                await self.step(loop.time())
            except asyncio.CancelledError:
                raise
            except (GenweaveError, TimeoutError, OSError) as exc:
                logger.warning("autoscaler for %s: %s", self.group, exc)

    async def step(self, now: float) -> None:
        addresses = self.deployer.membership.endpoints(self.group)
        loads = await asyncio.gather(*(
            self._router.call_at(a, self._load, self._load.args_type(), SAMPLE_TIMEOUT)
            for a in addresses), return_exceptions=True)
        in_flight = sum(x.in_flight for x in loads if isinstance(x, ReplicaLoad))
        self.last_in_flight = in_flight
        current = len(self.deployer.primary_replicas(self.group))
        target = self.plan.observe(now, in_flight, current)
        if target is None or target == current:
            return
        self.log(f"[autoscaler] {self.group}: {current} -> {target} replicas "
                 f"({in_flight} calls in flight, target "
                 f"{self.plan.settings.target_in_flight:g} per replica)")
        await self.deployer.scale(self.group, target)
        self.plan.changed(asyncio.get_running_loop().time())

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
