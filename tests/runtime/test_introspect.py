"""Components can see the deployment: replica states and per-method call metrics."""

from __future__ import annotations

import pytest
from introspect_app import Watcher

from genweave import deploy
from genweave.deploy.attach import attach


def calls(metrics: list, component: str, method: str) -> int:  # type: ignore[type-arg]
    return sum(m.calls for r in metrics for m in r.methods
               if (m.component, m.method) == (component, method))


@pytest.mark.parametrize("placement", ["inprocess", "codec",
                                       pytest.param("process", marks=pytest.mark.process)])
async def test_status_and_metrics(placement: str) -> None:
    options = {"log": lambda line: None} if placement == "process" else {}
    async with deploy("introspect_app:app", "microservices", placement, **options) as running:
        watcher = running.get(Watcher)
        before = calls(await watcher.metrics(), "Worker", "double")
        assert await watcher.work(25) == 600
        status = await watcher.status()
        assert status.ready()
        assert sorted(r.group for r in status.replicas) == ["watcher", "worker"]
        assert all(r.pid for r in status.replicas)
        metrics = await watcher.metrics()
        assert calls(metrics, "Worker", "double") - before == 25
        doubles = [m for r in metrics for m in r.methods if m.method == "double"]
        assert doubles[0].buckets[-1] == doubles[0].calls and doubles[0].errors == 0


@pytest.mark.process
async def test_attached_clients_see_the_same(tmp_path: object) -> None:
    async with deploy("introspect_app:app", "microservices", "process",
                      log=lambda line: None) as running:
        await running.get(Watcher).work(3)
        attached = await attach(running.rundir)  # type: ignore[attr-defined]
        try:
            status = await attached.runtime.status()
            assert {r.state for r in status.replicas} == {"ready"}
            assert calls(await attached.runtime.metrics(), "Watcher", "work") >= 1
        finally:
            await attached.stop()
