"""``/metrics``: every replica's call metrics in the Prometheus text format.

The gateway collects snapshots from all replicas (through ``Runtime``) at
scrape time, so one scrape of any gateway replica shows the whole deployment.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from genweave.observe.metrics import BUCKETS, MethodSnapshot
from genweave.runtime.introspect import DeploymentStatus, ReplicaMetrics

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LABELS = ["replica", "component", "method"]


class _Snapshot(Collector):
    def __init__(self, status: DeploymentStatus, metrics: Iterable[ReplicaMetrics]) -> None:
        self.status = status
        self.metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        yield from _call_families(
            "genweave_", ("Calls served, by method", "Calls that failed", "Time to serve a call"),
            _LABELS, ((r.replica, m.component, m.method, m)
                      for r in self.metrics for m in r.methods),
            in_flight="Calls running now")
        # Experiment traffic per variant, counted by the callers (``replica`` = caller).
        yield from _call_families(
            "genweave_variant_", ("Calls sent to a variant", "Calls to a variant that failed",
                                  "Time for a variant to answer"),
            ["replica", "group", "variant"], ((r.replica, v.component, v.method, v)
                                              for r in self.metrics for v in r.variants))
        up = GaugeMetricFamily("genweave_replica_ready", "1 when the replica takes calls",
                               labels=["group", "replica", "version", "variant"])
        restarts = CounterMetricFamily("genweave_replica_restarts", "Restarts after a crash",
                                       labels=["group", "replica"])
        for r in self.status.replicas:
            up.add_metric([r.group, r.name, r.version, r.variant],
                          1.0 if r.state == "ready" else 0.0)
            restarts.add_metric([r.group, r.name], r.restarts)
        yield from (up, restarts)


def _call_families(prefix: str, helps: tuple[str, str, str], labels: list[str],
                   rows: Iterable[tuple[str, str, str, MethodSnapshot]],
                   in_flight: str | None = None) -> list[Metric]:
    """``PREFIXcalls``, ``PREFIXcall_errors`` and ``PREFIXcall_duration_seconds`` (and
    ``PREFIXcalls_in_flight`` given its help) from snapshots labelled by three values."""
    calls = CounterMetricFamily(f"{prefix}calls", helps[0], labels=labels)
    errors = CounterMetricFamily(f"{prefix}call_errors", helps[1], labels=labels)
    latency = HistogramMetricFamily(f"{prefix}call_duration_seconds", helps[2], labels=labels)
    running = GaugeMetricFamily(f"{prefix}calls_in_flight", in_flight or "", labels=labels)
    for a, b, c, snapshot in rows:
        values = [a, b, c]
        calls.add_metric(values, snapshot.calls)
        errors.add_metric(values, snapshot.errors)
        latency.add_metric(values, _buckets(snapshot.buckets), snapshot.seconds)
        running.add_metric(values, snapshot.in_flight)
    return [calls, errors, latency] + ([running] if in_flight is not None else [])


def _buckets(counts: list[int]) -> list[tuple[str, float]]:
    return [(str(b), c) for b, c in zip((*BUCKETS, "+Inf"), counts, strict=True)]


def render(status: DeploymentStatus, metrics: Iterable[ReplicaMetrics]) -> bytes:
    """The Prometheus exposition of one deployment snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(status, metrics))
    return generate_latest(registry)
