"""``/metrics`` rendering: method and per-variant series in the Prometheus text format."""

from __future__ import annotations

from genweave.gateway.metrics import render
from genweave.observe.metrics import MethodStats
from genweave.runtime.introspect import DeploymentStatus, ReplicaMetrics, ReplicaStatus


def test_methods_variants_and_replicas_are_exposed() -> None:
    method = MethodStats("Generator", "chat")
    method.record(0.02, ok=True)
    canary = MethodStats("generator", "canary")
    canary.record(0.004, ok=True)
    canary.record(0.3, ok=False)
    metrics = [ReplicaMetrics("core/0", 10, 1.0, [method.snapshot()], [canary.snapshot()])]
    status = DeploymentStatus("assistant", "hybrid", [
        ReplicaStatus("generator", 0, "ready", 11, 0, "2"),
        ReplicaStatus("generator", 1, "starting", 12, 0, "1", "canary")])
    text = render(status, metrics).decode()
    assert 'genweave_calls_total{component="Generator",method="chat",replica="core/0"} 1.0' in text
    assert ('genweave_variant_calls_total{group="generator",replica="core/0",variant="canary"} '
            "2.0") in text
    assert ('genweave_variant_call_errors_total{group="generator",replica="core/0",'
            'variant="canary"} 1.0') in text
    assert 'genweave_variant_call_duration_seconds_bucket{group="generator",le="0.005"' in text
    assert ('genweave_replica_ready{group="generator",replica="generator/1",variant="canary",'
            'version="1"} 0.0') in text
