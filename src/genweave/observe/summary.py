"""Rates and latency quantiles per method, from two metric snapshots.

Counters only grow, so the difference between two snapshots is the recent
window: requests per second and p50/p99 over it (over all time when there is
no earlier snapshot).  Used by the console's live view and ``genweave status``.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from genweave.observe.metrics import MethodSnapshot, ReplicaMetrics, quantile

__all__ = ["MethodSummary", "Totals", "summarize", "totals"]


class MethodSummary(msgspec.Struct, frozen=True):
    component: str
    method: str
    calls: int
    errors: int
    in_flight: int
    rate: float
    """Calls per second over the window."""
    p50_ms: float | None
    p99_ms: float | None


class Totals(msgspec.Struct, frozen=True):
    """Per-method counters summed over replicas, at one moment."""

    at: float
    methods: dict[str, MethodSnapshot]


def totals(replicas: Iterable[ReplicaMetrics], at: float, variants: bool = False) -> Totals:
    """Counters summed over replicas: per method, or with ``variants`` per group variant."""
    summed: dict[str, MethodSnapshot] = {}
    for replica in replicas:
        for m in replica.variants if variants else replica.methods:
            key = f"{m.component}.{m.method}"
            old = summed.get(key)
            summed[key] = m if old is None else MethodSnapshot(
                m.component, m.method, old.calls + m.calls, old.errors + m.errors,
                old.in_flight + m.in_flight, old.seconds + m.seconds,
                [a + b for a, b in zip(old.buckets, m.buckets, strict=True)])
    return Totals(at, summed)


def summarize(now: Totals, before: Totals | None = None) -> list[MethodSummary]:
    """One row per method, sorted by component and method."""
    rows = []
    for key, m in sorted(now.methods.items()):
        prior = before.methods.get(key) if before is not None else None
        window = now.at - before.at if before is not None else 0.0
        calls = m.calls - (prior.calls if prior else 0)
        buckets = [a - b for a, b in zip(m.buckets, prior.buckets, strict=True)] if prior \
            else m.buckets
        if calls == 0:  # nothing new in the window: show all-time latency
            buckets = m.buckets
        rows.append(MethodSummary(
            m.component, m.method, m.calls, m.errors, m.in_flight,
            calls / window if window > 0 else 0.0,
            _ms(quantile(buckets, 0.5)), _ms(quantile(buckets, 0.99)),
        ))
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None or seconds == float("inf") else seconds * 1000
