"""The local supervisor's failure paths: crashes, restarts, balancing, graceful stop, orphans."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio
from sample_app import Front, Model, app

from conftest import Load, eventually
from genweave import ConnectionLost, deployment
from genweave.deploy.local import DeployError, LocalDeployer
from genweave.topology import Group, preset

pytestmark = [pytest.mark.process, pytest.mark.slow]

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"


def two_model_replicas() -> object:
    topology = preset("hybrid", app)
    groups = tuple(msgspec.structs.replace(g, replicas=2) if g.name == "model" else g
                   for g in topology.groups)
    return msgspec.structs.replace(topology, groups=groups)


@pytest_asyncio.fixture
async def logs() -> list[str]:
    return []


@pytest_asyncio.fixture
async def running(logs: list[str]) -> AsyncIterator[LocalDeployer]:
    deployer = deployment("sample_app:app", two_model_replicas(), "process", log=logs.append,
                          grace=5.0)
    assert isinstance(deployer, LocalDeployer)
    await deployer.start()
    yield deployer
    await deployer.stop()


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


async def test_log_lines_are_prefixed_with_group_and_replica(
    running: LocalDeployer, logs: list[str]
) -> None:
    expected = [f"[{name}] INFO genweave.worker: ready at" for name in ("core/0", "model/1")]
    # A worker logs "ready" just after registering, so it may trail start() a little.
    await eventually(lambda: all(any(line.startswith(e) for line in logs) for e in expected),
                     10, what="a prefixed 'ready' line from each replica")


async def test_calls_are_balanced_by_least_outstanding_requests(running: LocalDeployer) -> None:
    model = running.get(Model)
    pids = await asyncio.gather(*(model.sleep_pid(0.3) for _ in range(12)))
    counts = collections.Counter(pids)
    assert len(counts) == 2
    assert sorted(counts.values()) == [6, 6]


async def test_killed_replica_fails_calls_in_flight_then_is_restarted(
    logs: list[str],
) -> None:
    async with deployment("sample_app:app", "microservices", "process", log=logs.append) as d:
        assert isinstance(d, LocalDeployer)
        model = d.get(Model)
        old_pid = await model.pid()
        before = (await model.stats())["started"]
        in_flight = asyncio.create_task(d.get(Front).relay_sleep(30))

        async def started() -> bool:
            return bool((await model.stats())["started"] != before)

        await eventually(started, 5)
        os.kill(old_pid, signal.SIGKILL)
        async with asyncio.timeout(5):  # a clear error, not a hang
            with pytest.raises(ConnectionLost) as caught:
                await in_flight
        assert (caught.value.component, caught.value.method) == ("Model", "sleep")
        await d.wait_ready("model", timeout=20)
        new_pid = await model.pid()
        assert new_pid != old_pid
        assert await d.get(Front).relay_fail("none") == "no failure"
    assert any("[supervisor] model/0 exited with code -9; restarting" in line for line in logs)


async def test_idempotent_calls_survive_losing_one_of_two_replicas(
    running: LocalDeployer,
) -> None:
    model = running.get(Model)
    victim = running.pid("model", 0)
    assert victim is not None
    load = Load(model.pid, callers=8)
    await load.progress(40)
    os.kill(victim, signal.SIGKILL)
    await load.progress(280)  # calls go on, retried on the survivor
    results = await load.stop()
    assert not load.failures, load.failures[:3]
    assert len(results) >= 320


async def test_graceful_stop_finishes_calls_in_flight() -> None:
    d = deployment("sample_app:app", "microservices", "process", log=lambda line: None)
    await d.start()
    model = d.get(Model)
    call = asyncio.create_task(d.get(Front).relay_sleep(0.8))

    async def started() -> bool:
        return bool((await model.stats())["started"])

    await eventually(started, 5)
    await d.stop()
    assert await call == "slept"


async def test_a_replica_that_cannot_start_fails_the_deployment_with_its_output() -> None:
    with pytest.raises(DeployError, match="model weights not found at /nowhere") as caught:
        async with deployment("broken_app:app", "monolith", "process", log=lambda line: None):
            pass
    assert "main/0 exited before it was ready" in str(caught.value)


async def test_no_orphans_when_the_supervisor_is_killed() -> None:
    supervisor = subprocess.Popen(
        [sys.executable, str(APPS_DIR / "orphan_supervisor.py"), str(APPS_DIR)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert supervisor.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(supervisor.stdout.readline), 30)
        pids = json.loads(line)
        assert len(pids) == 3 and all(alive(p) for p in pids)
        supervisor.kill()
        supervisor.wait()
        await eventually(lambda: not any(alive(p) for p in pids), 15, interval=0.1,
                         what="every worker exiting")
    finally:
        supervisor.kill()
        supervisor.wait()
        if supervisor.stdout is not None:
            supervisor.stdout.close()


async def test_replica_counts_come_from_the_topology(running: LocalDeployer) -> None:
    assert [len(running.replicas[g.name]) for g in running.topology.groups] == [1, 2]
    assert isinstance(running.topology.groups[0], Group)


async def test_tcp_transport() -> None:
    topology = msgspec.structs.replace(preset("microservices", app), transport="tcp")
    async with deployment("sample_app:app", topology, "process", log=lambda line: None) as d:
        assert isinstance(d, LocalDeployer)
        assert all(a.startswith("tcp:127.0.0.1:") for a in d.membership.snapshot().groups["model"])
        assert await d.get(Front).total([1, 2, 3]) == 6
        assert [w async for w in d.get(Front).shout("over tcp")] == ["OVER", "TCP"]


@pytest.mark.parametrize("placement", ["codec", pytest.param("process",
                                                              marks=pytest.mark.process)])
async def test_a_stopped_group_fails_fast_and_comes_back(placement: str) -> None:
    from genweave import Unavailable

    options = {"log": lambda line: None} if placement == "process" else {}
    async with deployment("sample_app:app", "microservices", placement, **options) as d:
        front = d.get(Front)
        await d.stop_group("model")  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(Unavailable, match="group 'model' is stopped"):
            await front.relay_fail("none")
        assert loop.time() - start < 1.0
        await d.start_group("model")  # type: ignore[attr-defined]
        assert await front.relay_fail("none") == "no failure"


async def test_scaling_a_group_under_load_drops_no_call() -> None:
    async with deployment("sample_app:app", "hybrid", "process", log=lambda line: None) as d:
        assert isinstance(d, LocalDeployer)
        model = d.get(Model)
        core_pid = d.pid("core")
        # sleep_pid is not idempotent: never retried mid-call, so a dropped call would fail
        load = Load(lambda: model.sleep_pid(0.02), callers=8)
        await d.scale("model", 3)
        await eventually(lambda: len(set(load.results)) == 3, 10,
                         what="calls answered by all three replicas")
        await d.scale("model", 1)
        await load.progress(40)
        await load.stop()
        assert not load.failures, load.failures[:3]
        assert [len(d.replicas[g.name]) for g in d.topology.groups] == [1, 1]
        assert d.topology.group("model").replicas == 1 and d.pid("core") == core_pid
        status = d.status()
        assert [r.name for r in status.replicas if r.group == "model"] == ["model/0"]
