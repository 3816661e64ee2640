"""Call metrics in the Prometheus text format, for any process that serves ``/metrics``.

The gateway exposes every replica of a deployment (it collects their
snapshots at scrape time); a worker's probe port exposes its own replica.
Both build the same families from ``ReplicaMetrics`` snapshots:

- ``genweave_calls``, ``genweave_call_errors``, ``genweave_call_duration_seconds``
  and ``genweave_calls_in_flight``, labelled by replica, component and method;
- ``genweave_variant_*``: experiment traffic per variant, counted by the callers;
- ``genweave_replica_ready`` and ``genweave_replica_restarts`` per replica.

Example::

    text = exposition([*call_families([metrics]), *replica_families([ReplicaRow(
        "model", "model/0", "1", "", ready=True, restarts=0)])])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, NamedTuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from genweave.observe.metrics import BUCKETS, MethodSnapshot, ReplicaMetrics

__all__ = ["CONTENT_TYPE", "ReplicaRow", "call_families", "exposition", "replica_families"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_LABELS: Final = ["replica", "component", "method"]


class ReplicaRow(NamedTuple):
    """One replica's line in ``genweave_replica_ready`` and ``genweave_replica_restarts``."""

    group: str
    replica: str
    version: str
    variant: str
    ready: bool
    restarts: int


def call_families(metrics: Iterable[ReplicaMetrics]) -> list[Metric]:
    """The call and per-variant families of these replicas' snapshots."""
    metrics = list(metrics)
    families = _families(
        "genweave_", ("Calls served, by method", "Calls that failed", "Time to serve a call"),
        _LABELS, ((r.replica, m.component, m.method, m) for r in metrics for m in r.methods),
        in_flight="Calls running now")
    # Experiment traffic per variant, counted by the callers (``replica`` = caller).
    families += _families(
        "genweave_variant_", ("Calls sent to a variant", "Calls to a variant that failed",
                              "Time for a variant to answer"),
        ["replica", "group", "variant"], ((r.replica, v.component, v.method, v)
                                          for r in metrics for v in r.variants))
    return families


def replica_families(replicas: Iterable[ReplicaRow]) -> list[Metric]:
    """Whether each replica takes calls, and how often it restarted."""
    up = GaugeMetricFamily("genweave_replica_ready", "1 when the replica takes calls",
                           labels=["group", "replica", "version", "variant"])
    restarts = CounterMetricFamily("genweave_replica_restarts", "Restarts after a crash",
                                   labels=["group", "replica"])
    for r in replicas:
        up.add_metric([r.group, r.replica, r.version, r.variant], 1.0 if r.ready else 0.0)
        restarts.add_metric([r.group, r.replica], r.restarts)
    return [up, restarts]


def exposition(families: Iterable[Metric]) -> bytes:
    """The text a Prometheus scrape gets (``CONTENT_TYPE``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families)))
    return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _families(prefix: str, helps: tuple[str, str, str], labels: list[str],
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
