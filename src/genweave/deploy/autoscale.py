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
import time
from collections.abc import Callable, Iterable
from typing import Final, Protocol

from genweave.component import spec_of
from genweave.errors import GenweaveError
from genweave.runtime.introspect import Admin, ReplicaLoad
from genweave.runtime.router import Router
from genweave.topology import Autoscale

__all__ = ["Autoscaler", "ScalableDeployment", "ScalePlan", "calls_in_flight"]

logger = logging.getLogger("genweave.autoscale")

SAMPLE_TIMEOUT: Final = 2.0


class ScalableDeployment(Protocol):
    """What an autoscaler needs of a deployer (``LocalDeployer`` is one)."""

    def replica_count(self, group: str) -> int:
        """Replicas of ``group``'s own version (not its variants'), running or starting."""
        ...

    async def calls_in_flight(self, group: str) -> int:
        """Calls ``group``'s ready replicas are running now, summed."""
        ...

    async def scale(self, group: str, replicas: int) -> None:
        """Run ``replicas`` replicas of ``group``; return once the new ones are ready."""
        ...


async def calls_in_flight(router: Router, addresses: Iterable[str]) -> int:
    """Ask each replica how many calls it runs (``genweave.Admin.load``) and add them up.

    A replica that does not answer within ``SAMPLE_TIMEOUT`` counts as idle:
    it is starting, stopping or broken, and its supervisor deals with that.
    """
    load = spec_of(Admin).methods["load"]
    loads = await asyncio.gather(*(
        router.call_at(a, load, load.args_type(), SAMPLE_TIMEOUT) for a in addresses),
        return_exceptions=True)
    return sum(x.in_flight for x in loads if isinstance(x, ReplicaLoad))


class ScalePlan:
    """The decision rule, apart from any process: feed it samples, it says when to scale."""

    def __init__(self, settings: Autoscale) -> None:
        self.settings = settings
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._since: float | None = None
        """When the current window of samples began (start, or the last change)."""

    def wanted(self, in_flight: float) -> int:
        """Replicas that ``in_flight`` calls want, within ``[min, max]``."""
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
    """Runs a ``ScalePlan`` against one group of a deployment, every ``interval`` seconds.

    Example::

        autoscaler = Autoscaler(deployer, "generator", group.autoscale, log=print)
        autoscaler.start()
        ...
        await autoscaler.close()
    """

    def __init__(self, deployment: ScalableDeployment, group: str, settings: Autoscale,
                 log: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.deployment = deployment
        self.group = group
        self.plan = ScalePlan(settings)
        self.log = log
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sample and scale in the background until ``close``."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.plan.settings.interval)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except (GenweaveError, TimeoutError, OSError) as exc:
                logger.warning("autoscaler for %s: %s", self.group, exc)

    async def step(self) -> None:
        """Take one sample and scale the group if the plan says so."""
        in_flight = await self.deployment.calls_in_flight(self.group)
        current = self.deployment.replica_count(self.group)
        target = self.plan.observe(self._clock(), in_flight, current)
        if target is None or target == current:
            return
        self.log(f"[autoscaler] {self.group}: {current} -> {target} replicas "
                 f"({in_flight} calls in flight, target "
                 f"{self.plan.settings.target_in_flight:g} per replica)")
        await self.deployment.scale(self.group, target)
        self.plan.changed(self._clock())

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
