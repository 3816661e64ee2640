"""``genweave status``'s table: readiness, every replica, group options, experiments and the
traffic per method over the interval, as a user reads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_app import Model, app

from genweave import deploy, deployment
from genweave.observe.metrics import MethodSnapshot, MethodStats, ReplicaMetrics
from genweave.runtime.introspect import DeploymentStatus, ReplicaStatus, Runtime
from genweave.status import render_status
from genweave.topology import Topology, resolve_topology

EXPERIMENT = 'preset = "hybrid"\n[groups.model]\nmax_in_flight = 8\n' \
             '[groups.model.variants.b]\nweight = 10\n'


def snapshot(component: str, method: str, calls: int, errors: int = 0,
             seconds: float = 0.004) -> MethodSnapshot:
    stats = MethodStats(component, method)
    for i in range(calls):
        stats.record(seconds, ok=i >= errors)
    return stats.snapshot()


class ScriptedRuntime(Runtime):
    """Answers ``status`` with one fixed view and ``metrics`` with each snapshot in turn."""

    def __init__(self, topology: Topology, replicas: list[ReplicaStatus],
                 snapshots: list[ReplicaMetrics]) -> None:
        super().__init__(app, topology, "client")
        self._replicas = replicas
        self._snapshots: Iterator[ReplicaMetrics] = iter(snapshots)

    async def status(self) -> DeploymentStatus:
        return DeploymentStatus("sample", self.topology.name, self._replicas)

    async def metrics(self) -> list[ReplicaMetrics]:
        return [next(self._snapshots)]


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT)
    return resolve_topology(path, app)


async def render(topology: Topology, runtime: Runtime) -> list[str]:
    lines: list[str] = []
    await render_status(deployment(app, topology, "inprocess"), runtime, interval=0.0,
                        out=lines.append)
    return lines


REPLICAS = [
    ReplicaStatus("core", 0, "ready", 4101),
    ReplicaStatus("model", 0, "ready", 4102, restarts=2, version="3"),
    ReplicaStatus("model", 1, "starting", None, variant="b"),
]


async def test_the_table_lists_every_replica_with_state_pid_restarts_and_components(
    topology: Topology,
) -> None:
    quiet = ReplicaMetrics("core/0", 1, 1.0, [])
    lines = await render(topology, ScriptedRuntime(topology, REPLICAS, [quiet, quiet]))
    assert lines[0] == f"app 'sample', topology '{topology.name}': ready"
    assert lines[2].split() == ["GROUP", "REPLICA", "VERSION", "STATE", "PID", "RESTARTS",
                                "COMPONENTS"]
    assert [line.split() for line in lines[3:6]] == [
        ["core", "core/0", "1", "ready", "4101", "0", "Front,", "Store"],
        ["model", "model/0", "3", "ready", "4102", "2", "Model"],
        ["model", "model/1", "b", "starting", "-", "0", "Model"],  # a variant shows its name
    ]
    assert "model: max 8 in flight/replica; variant b (10%, x1)" in lines


async def test_a_group_without_a_ready_replica_makes_the_app_not_ready(
    topology: Topology,
) -> None:
    replicas = [ReplicaStatus("core", 0, "ready", 1), ReplicaStatus("model", 0, "restarting", 2)]
    quiet = ReplicaMetrics("core/0", 1, 1.0, [])
    lines = await render(topology, ScriptedRuntime(topology, replicas, [quiet, quiet]))
    assert lines[0].endswith(": NOT READY")


async def test_methods_show_calls_errors_and_latency_and_framework_methods_are_hidden(
    topology: Topology,
) -> None:
    earlier = ReplicaMetrics("model/0", 1, 1.0, [snapshot("Model", "add", 10)])
    later = ReplicaMetrics("model/0", 1, 2.0, [
        snapshot("Model", "add", 30, errors=2), snapshot("Store", "search", 5, seconds=0.02),
        snapshot("genweave.Admin", "metrics", 4)])
    lines = await render(topology, ScriptedRuntime(topology, REPLICAS, [earlier, later]))
    header = lines.index(next(line for line in lines if line.startswith("METHOD")))
    assert lines[header].split() == ["METHOD", "REQ/S", "P50", "MS", "P99", "MS", "CALLS",
                                     "ERRORS"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 1:]}
    assert set(rows) == {"Model.add", "Store.search"}
    add, search = rows["Model.add"], rows["Store.search"]
    assert float(add[0]) > 0 and add[1:] == ["5.00", "5.00", "30", "2"]
    assert float(search[0]) > 0 and search[1:] == ["25.00", "25.00", "5", "0"]
    assert not any(line.startswith("EXPERIMENT") for line in lines)


async def test_an_experiment_shows_the_calls_each_variant_got(topology: Topology) -> None:
    earlier = ReplicaMetrics("core/0", 1, 1.0, [], [snapshot("model", "b", 1)])
    later = ReplicaMetrics("core/0", 1, 2.0, [], [snapshot("model", "primary", 9),
                                                  snapshot("model", "b", 3)])
    lines = await render(topology, ScriptedRuntime(topology, REPLICAS, [earlier, later]))
    header = lines.index(next(line for line in lines if line.startswith("EXPERIMENT")))
    assert lines[header].split()[:3] == ["EXPERIMENT", "(GROUP/VARIANT)", "REQ/S"]
    rows = {line.split()[0]: line.split()[-2:] for line in lines[header + 1:header + 3]}
    assert rows == {"model/b": ["3", "0"], "model/primary": ["9", "0"]}


async def test_a_method_without_latency_shows_a_dash(topology: Topology) -> None:
    never = MethodSnapshot("Model", "echo", 0, 0, 0, 0.0, [0] * len(snapshot("M", "m", 0).buckets))
    quiet = ReplicaMetrics("model/0", 1, 1.0, [never])
    lines = await render(topology, ScriptedRuntime(topology, REPLICAS, [quiet, quiet]))
    echo = next(line for line in lines if line.startswith("Model.echo"))
    assert echo.split()[1:] == ["0.0", "-", "-", "0", "0"]


async def test_a_long_method_name_is_cut_to_its_column(topology: Topology) -> None:
    long = snapshot("Model", "a_method_name_far_longer_than_the_column_allows", 1)
    quiet = ReplicaMetrics("model/0", 1, 1.0, [long])
    lines = await render(topology, ScriptedRuntime(topology, REPLICAS, [quiet, quiet]))
    row = next(line for line in lines if line.startswith("Model.a_method"))
    assert row[:41] == "Model.a_method_name_far_longer_than_the_ "


async def test_a_running_deployment_reports_its_real_calls() -> None:
    async with deploy(app, "hybrid", "inprocess") as running:
        assert await running.get(Model).add(1, 2) == 3
        lines: list[str] = []
        await render_status(running, running.runtime,  # type: ignore[attr-defined]
                            interval=0.0, out=lines.append)
    assert lines[0] == "app 'sample', topology 'hybrid': ready"
    assert [line.split()[:4] for line in lines[3:5]] == [["core", "core/0", "1", "ready"],
                                                         ["model", "model/0", "1", "ready"]]
    add = next(line for line in lines if line.startswith("Model.add "))
    assert int(add.split()[-2]) >= 1
