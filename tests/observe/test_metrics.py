"""Per-method counters: calls, errors, time and a latency histogram, snapshotted as data."""

from __future__ import annotations

import msgspec

from genweave.observe.metrics import BUCKETS, MethodStats, Registry, ReplicaMetrics, quantile


def test_each_call_is_counted_with_its_outcome_and_duration() -> None:
    stats = MethodStats("Model", "run")
    stats.record(0.003, ok=True)
    stats.record(0.2, ok=False)
    snapshot = stats.snapshot()
    assert (snapshot.component, snapshot.method) == ("Model", "run")
    assert (snapshot.calls, snapshot.errors) == (2, 1)
    assert abs(snapshot.seconds - 0.203) < 1e-9


def test_the_histogram_is_cumulative_with_a_final_infinite_bucket() -> None:
    stats = MethodStats("Model", "run")
    for seconds in (0.00005, 0.003, 0.003, 100.0):
        stats.record(seconds, ok=True)
    buckets = stats.snapshot().buckets
    assert len(buckets) == len(BUCKETS) + 1
    assert buckets == sorted(buckets) and buckets[-1] == 4
    assert buckets[0] == 1  # 50 us is below the first bound
    assert buckets[BUCKETS.index(0.005)] == 3
    assert buckets[-2] == 3  # 100 s is above every bound


def test_quantiles_are_the_bound_of_the_bucket_they_fall_in() -> None:
    stats = MethodStats("Model", "run")
    for _ in range(98):
        stats.record(0.004, ok=True)
    stats.record(2.0, ok=True)
    stats.record(2.0, ok=True)
    buckets = stats.snapshot().buckets
    assert quantile(buckets, 0.5) == 0.005
    assert quantile(buckets, 0.99) == 2.5
    assert quantile([0] * (len(BUCKETS) + 1), 0.5) is None


def test_calls_in_flight_show_in_the_snapshot() -> None:
    stats = MethodStats("Model", "run")
    stats.in_flight += 2
    assert stats.snapshot().in_flight == 2


def test_a_registry_keeps_one_counter_per_method_and_per_variant() -> None:
    registry = Registry()
    assert registry.method("Model", "run") is registry.method("Model", "run")
    registry.method("Model", "run").record(0.01, ok=True)
    registry.variant("model", "canary").record(0.01, ok=False)
    assert [(s.component, s.method, s.calls) for s in registry.snapshot()] == [
        ("Model", "run", 1)]
    assert [(s.component, s.method, s.errors) for s in registry.variants_snapshot()] == [
        ("model", "canary", 1)]


def test_a_replicas_metrics_are_plain_data() -> None:
    registry = Registry()
    registry.method("Model", "run").record(0.01, ok=True)
    metrics = ReplicaMetrics("model/0", 1234, 5.0, registry.snapshot())
    assert metrics.variants == []
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(metrics), type=ReplicaMetrics) == metrics
