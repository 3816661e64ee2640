"""The Ray deployer on a real two-node Ray cluster: placement, restarts, scaling, status,
what it refuses, and a cluster that goes away under it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from reference_app import app_topology
from sample_app import Model

from conftest import Load, eventually
from genweave import deploy, deployment
from genweave.application import load_app
from genweave.deploy import DeployError
from genweave.deploy.ray import RayDeployer
from genweave.errors import TopologyError, Unavailable
from genweave.topology import Autoscale, preset

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest_asyncio.fixture(scope="module")
async def running(ray_cluster: Any) -> AsyncIterator[RayDeployer]:
    """The sample app's microservices preset, model pinned to node b, front to node a."""
    pinned = {"front": {ray_cluster.a: 1}, "model": {ray_cluster.b: 1}}
    async with deploy("sample_app:app", "microservices", "ray", resources=pinned,
                      log=lambda line: None, ready_wait=20.0) as running:
        assert isinstance(running, RayDeployer)
        yield running


async def test_every_replica_is_ready_in_status_with_its_pid(running: RayDeployer) -> None:
    replicas = running.status().replicas
    assert {(r.group, r.state) for r in replicas} == {
        ("front", "ready"), ("model", "ready"), ("store", "ready")}
    assert all(r.pid is not None for r in replicas)
    assert await running.get(Model).pid() == running.replicas["model"][0].pid


async def test_a_sigkilled_replica_is_restarted_by_ray_and_idempotent_calls_keep_succeeding(
    running: RayDeployer,
) -> None:
    model = running.replicas["model"][0]
    old_pid, old_node = model.pid, model.node
    assert old_pid is not None
    calls = Load(running.get(Model).pid, callers=4)
    await calls.progress(20)
    os.kill(old_pid, signal.SIGKILL)
    await eventually(lambda: any(pid != old_pid for pid in calls.results[-4:]), timeout=60,
                     what="calls answered by the restarted replica")
    await calls.progress(20)
    await calls.stop()
    assert calls.failures == []
    await running.refresh(model)
    assert model.pid != old_pid and model.restarts == 1
    assert model.node == old_node  # pinned by its custom resource
    assert running.status().replicas[1].state == "ready"


async def test_scaling_a_group_adds_actors_that_take_calls_then_drains_them(
    running: RayDeployer,
) -> None:
    model = running.get(Model)
    await running.scale("store", 2)
    assert [r.state for r in running.status().replicas if r.group == "store"] == ["ready"] * 2
    await running.scale("model", 2)
    pids = {p for p in await asyncio.gather(*(model.pid() for _ in range(40)))}
    assert pids == {r.pid for r in running.replicas["model"]} and len(pids) == 2
    await running.scale("model", 1)
    await running.scale("store", 1)
    assert len(running.replicas["model"]) == 1
    assert {await model.pid() for _ in range(10)} == {running.replicas["model"][0].pid}


def test_custom_resources_for_an_unknown_group_are_refused() -> None:
    with pytest.raises(TopologyError, match="no such group"):
        deployment("sample_app:app", "microservices", "ray", resources={"modle": {"x": 1}})
    with pytest.raises(TopologyError, match="'CPU' is Ray's own"):
        deployment("sample_app:app", "microservices", "ray", resources={"model": {"CPU": 1}})


async def test_a_replica_that_cannot_be_placed_fails_the_start_naming_it(
    ray_cluster: Any,
) -> None:
    nowhere = deployment("sample_app:app", "monolith", "ray", start_timeout=3.0,
                         resources={"main": {"node_that_does_not_exist": 1}},
                         log=lambda line: None)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(DeployError, match=r"main/0: not ready within 3s; Ray may have no node "
                                          r"with what it asks for \(.*node_that_does_not_exist"):
        await nowhere.start()
    # the start timeout and the margin for starting a process, without a drain's 20 s more
    assert loop.time() - began < 3.0 + 10.0 + 5.0


async def test_sqlite_state_split_across_nodes_is_refused_before_any_actor_starts(
    ray_cluster: Any, tmp_path: Path,
) -> None:
    topology = app_topology("microservices", tmp_path)
    split = deployment("genweave.app:app", topology, "ray", log=lambda line: None)
    with pytest.raises(DeployError, match="the Ray cluster has 2 nodes.*'ingestor' and "
                                          "'retriever' keep state in a local SQLite file"):
        await split.start()
    assert all(not replicas for replicas in split.replicas.values())


async def test_the_autoscaler_asks_ray_for_actors_under_load_then_gives_them_back(
    ray_cluster: Any,
) -> None:
    app = load_app("sample_app:app")
    base = preset("microservices", app)
    autoscale = Autoscale(max=2, target_in_flight=2, up_delay=0.2, down_delay=0.5,
                          interval=0.1)
    topology = msgspec.structs.replace(base, groups=tuple(
        msgspec.structs.replace(g, autoscale=autoscale) if g.name == "model" else g
        for g in base.groups))
    async with deploy(app, topology, "ray", log=lambda line: None) as running:
        assert isinstance(running, RayDeployer)
        model = running.get(Model)
        load = Load(lambda: model.sleep_pid(0.05), callers=8)
        try:
            await eventually(lambda: running.replica_count("model") == 2, timeout=60,
                             what="a second model actor")
            await eventually(lambda: len(set(load.results[-40:])) == 2, timeout=30,
                             what="calls answered by both actors")
        finally:
            await load.stop()
        assert load.failures == []
        await eventually(lambda: running.replica_count("model") == 1, timeout=60,
                         what="the idle actor given back")


async def test_the_cluster_stopped_under_a_deployment_is_a_clean_error_not_a_hang(
    running: RayDeployer, ray_cluster: Any,
) -> None:
    cluster = ray_cluster.cluster
    for node in [*cluster.worker_nodes, cluster.head_node]:
        node.kill_all_processes(check_alive=False, allow_graceful=True)
    model = running.get(Model)

    async def refused() -> bool:
        try:
            async with asyncio.timeout(30):
                await model.add(1, 2)
        except Unavailable:
            return True
        return False

    await eventually(refused, timeout=90, what="a call refused as Unavailable")
    async with asyncio.timeout(60):
        await running.stop()
