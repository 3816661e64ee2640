"""Rates and latency quantiles per method, summed over replicas, from two snapshots."""

from __future__ import annotations

from genweave.observe.metrics import MethodStats, ReplicaMetrics
from genweave.observe.summary import summarize, totals


def replica(name: str, calls: dict[tuple[str, str], list[float]],
            variants: dict[tuple[str, str], int] | None = None) -> ReplicaMetrics:
    methods = []
    for (component, method), durations in calls.items():
        stats = MethodStats(component, method)
        for seconds in durations:
            stats.record(seconds, ok=seconds < 1.0)
        methods.append(stats.snapshot())
    shares = []
    for (group, variant), n in (variants or {}).items():
        stats = MethodStats(group, variant)
        for _ in range(n):
            stats.record(0.01, ok=True)
        shares.append(stats.snapshot())
    return ReplicaMetrics(name, 1, 10.0, methods, shares)


def test_counters_are_summed_over_replicas() -> None:
    summed = totals([replica("m/0", {("Model", "run"): [0.01, 2.0]}),
                     replica("m/1", {("Model", "run"): [0.01], ("Model", "embed"): [0.001]})],
                    at=100.0)
    run = summed.methods["Model.run"]
    assert (run.calls, run.errors, summed.at) == (3, 1, 100.0)
    assert summed.methods["Model.embed"].calls == 1


def test_variant_counts_are_summed_apart_from_methods() -> None:
    replicas = [replica("a/0", {}, {("model", "canary"): 2}),
                replica("a/1", {}, {("model", "canary"): 3, ("model", "primary"): 1})]
    summed = totals(replicas, at=0.0, variants=True)
    assert {k: m.calls for k, m in summed.methods.items()} == {"model.canary": 5,
                                                                "model.primary": 1}


def test_the_rate_and_quantiles_cover_the_window_between_two_snapshots() -> None:
    before = totals([replica("m/0", {("Model", "run"): [2.0] * 10})], at=100.0)
    now = totals([replica("m/0", {("Model", "run"): [2.0] * 10 + [0.004] * 20})], at=110.0)
    [row] = summarize(now, before)
    assert (row.component, row.method, row.calls, row.errors) == ("Model", "run", 30, 10)
    assert row.rate == 2.0  # 20 calls in 10 s
    assert row.p50_ms == 5.0 and row.p99_ms == 5.0  # the old slow calls are outside the window


def test_a_quiet_window_shows_all_time_latency() -> None:
    snapshot = [replica("m/0", {("Model", "run"): [0.004] * 5})]
    [row] = summarize(totals(snapshot, at=110.0), totals(snapshot, at=100.0))
    assert row.rate == 0.0 and row.p50_ms == 5.0


def test_without_an_earlier_snapshot_there_is_no_rate() -> None:
    [row] = summarize(totals([replica("m/0", {("Model", "run"): [0.004]})], at=5.0))
    assert row.rate == 0.0 and row.p50_ms == 5.0


def test_rows_are_sorted_and_empty_methods_have_no_latency() -> None:
    rows = summarize(totals([replica("m/0", {("Model", "run"): [], ("Embedder", "embed"): []})],
                            at=1.0))
    assert [(r.component, r.method) for r in rows] == [("Embedder", "embed"), ("Model", "run")]
    assert all(r.p50_ms is None and r.p99_ms is None for r in rows)
