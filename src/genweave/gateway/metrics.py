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

from genweave.observe.metrics import BUCKETS
from genweave.runtime.introspect import DeploymentStatus, ReplicaMetrics

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LABELS = ["replica", "component", "method"]


class _Snapshot(Collector):
    def __init__(self, status: DeploymentStatus, metrics: Iterable[ReplicaMetrics]) -> None:
        self.status = status
        self.metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily("genweave_calls", "Calls served, by method", labels=_LABELS)
        errors = CounterMetricFamily("genweave_call_errors", "Calls that failed", labels=_LABELS)
        in_flight = GaugeMetricFamily("genweave_calls_in_flight", "Calls running now",
                                      labels=_LABELS)
        latency = HistogramMetricFamily("genweave_call_duration_seconds",
                                        "Time to serve a call", labels=_LABELS)
        for replica in self.metrics:
            for m in replica.methods:
                labels = [replica.replica, m.component, m.method]
                calls.add_metric(labels, m.calls)
                errors.add_metric(labels, m.errors)
                in_flight.add_metric(labels, m.in_flight)
                latency.add_metric(labels, _buckets(m.buckets), m.seconds)
        yield from (calls, errors, in_flight, latency)
        yield from self._variants()
        up = GaugeMetricFamily("genweave_replica_ready", "1 when the replica takes calls",
                               labels=["group", "replica", "version", "variant"])
        restarts = CounterMetricFamily("genweave_replica_restarts", "Restarts after a crash",
                                       labels=["group", "replica"])
        for r in self.status.replicas:
            up.add_metric([r.group, r.name, r.version, r.variant],
                          1.0 if r.state == "ready" else 0.0)
            restarts.add_metric([r.group, r.name], r.restarts)
        yield from (up, restarts)

    def _variants(self) -> Iterator[Metric]:
        """Experiment traffic per variant, counted by the callers (``replica`` = caller)."""
        labels = ["replica", "group", "variant"]
        calls = CounterMetricFamily("genweave_variant_calls", "Calls sent to a variant",
                                    labels=labels)
        errors = CounterMetricFamily("genweave_variant_call_errors",
                                     "Calls to a variant that failed", labels=labels)
        latency = HistogramMetricFamily("genweave_variant_call_duration_seconds",
                                        "Time for a variant to answer", labels=labels)
        for replica in self.metrics:
            for v in replica.variants:
                names = [replica.replica, v.component, v.method]
                calls.add_metric(names, v.calls)
                errors.add_metric(names, v.errors)
                latency.add_metric(names, _buckets(v.buckets), v.seconds)
        yield from (calls, errors, latency)


def _buckets(counts: list[int]) -> list[tuple[str, float]]:
    return [(str(b), c) for b, c in zip((*BUCKETS, "+Inf"), counts, strict=True)]


def render(status: DeploymentStatus, metrics: Iterable[ReplicaMetrics]) -> bytes:
    """The Prometheus exposition of one deployment snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(status, metrics))
    return generate_latest(registry)
