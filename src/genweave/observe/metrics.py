"""Per-method call metrics, recorded where a call is served.

Every process keeps one ``Registry``.  A call is counted once, by the process
that runs the method: the server side for RPC calls, the proxy for direct calls
inside a group.  Snapshots are plain Structs, so the gateway can collect them
from every replica over RPC and add them up.

Example::

    stats = REGISTRY.method("Generator", "generate")
    stats.record(0.012, ok=True)
"""

from __future__ import annotations

import bisect
import time
from typing import Final

import msgspec

__all__ = [
    "BUCKETS",
    "REGISTRY",
    "MethodSnapshot",
    "MethodStats",
    "Registry",
    "ReplicaMetrics",
    "quantile",
]

BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                  0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the latency histogram, Prometheus style (plus +Inf)."""


class MethodSnapshot(msgspec.Struct, frozen=True, array_like=True):
    """Counters of one method since the process started."""

    component: str
    method: str
    calls: int
    errors: int
    in_flight: int
    seconds: float
    buckets: list[int]
    """Cumulative counts per ``BUCKETS`` bound, then +Inf."""


class ReplicaMetrics(msgspec.Struct, frozen=True):
    """The counters of one replica's process, as its ``genweave.Admin`` reports them."""

    replica: str
    pid: int
    uptime: float
    methods: list[MethodSnapshot]
    variants: list[MethodSnapshot] = []
    """Calls this replica sent to each variant of a group running an experiment
    (``component`` = group, ``method`` = variant)."""


class MethodStats:
    """Mutable counters for one method; cheap enough for every call."""

    __slots__ = ("buckets", "calls", "component", "errors", "in_flight", "method", "seconds")

    def __init__(self, component: str, method: str) -> None:
        self.component = component
        self.method = method
        self.calls = 0
        self.errors = 0
        self.in_flight = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)

    def record(self, seconds: float, ok: bool) -> None:
        self.calls += 1
        self.errors += not ok
        self.seconds += seconds
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1

    def snapshot(self) -> MethodSnapshot:
        cumulative, total = [], 0
        for count in self.buckets:
            total += count
            cumulative.append(total)
        return MethodSnapshot(self.component, self.method, self.calls, self.errors,
                              self.in_flight, self.seconds, cumulative)


class Registry:
    """All method stats of this process, and the variant stats of its outgoing calls."""

    def __init__(self) -> None:
        self._methods: dict[tuple[str, str], MethodStats] = {}
        self._variants: dict[tuple[str, str], MethodStats] = {}
        self.started = time.time()

    def method(self, component: str, method: str) -> MethodStats:
        return _stats(self._methods, component, method)

    def variant(self, group: str, variant: str) -> MethodStats:
        """Calls this process sent to one variant of ``group``, counted on the caller's side.

        Its snapshot names the group as ``component`` and the variant as ``method``.
        """
        return _stats(self._variants, group, variant)

    def variants_snapshot(self) -> list[MethodSnapshot]:
        return [s.snapshot() for s in self._variants.values()]

    def snapshot(self) -> list[MethodSnapshot]:
        return [s.snapshot() for s in self._methods.values()]


def _stats(table: dict[tuple[str, str], MethodStats], first: str, second: str) -> MethodStats:
    stats = table.get((first, second))
    if stats is None:
        stats = table[(first, second)] = MethodStats(first, second)
    return stats


REGISTRY: Final = Registry()


def quantile(buckets: list[int], q: float) -> float | None:
    """Estimate a latency quantile from cumulative bucket counts (the bucket's bound)."""
    total = buckets[-1] if buckets else 0
    if total == 0:
        return None
    rank = q * total
    for bound, count in zip((*BUCKETS, float("inf")), buckets, strict=True):
        if count >= rank:
            return bound
    return float("inf")
