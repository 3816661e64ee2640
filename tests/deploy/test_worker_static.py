"""``genweave worker`` with static discovery: real replicas on loopback addresses calling each
other.

Every replica has its own address in 127/8 (all loopback), as each would have
its own host: ``core`` on 127.0.0.2, two ``model`` replicas on 127.0.0.3 and
127.0.0.4, listed in the topology file they all read.  The test's own client
finds them the same way.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio
import sample_app
from sample_app import Front, Model
from worker_process import Processes, free_port

from conftest import Load, eventually
from genweave import InterfaceMismatch
from genweave.application import load_app
from genweave.deploy.attach import AttachedDeployment
from genweave.runtime.discovery import PROBE_INTERVAL, StaticDiscovery
from genweave.topology import Topology, preset, render_toml

pytestmark = [pytest.mark.process, pytest.mark.slow]

HOSTS = {"core": ["127.0.0.2"], "model": ["127.0.0.3", "127.0.0.4"]}
LEAVES_WITHIN = 2.0
"""Seconds from SIGKILL to the dead address leaving the caller's set: at the first failed
connection, so at once under load; the margin is for a busy machine."""


@pytest_asyncio.fixture
async def workers() -> AsyncIterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        await started.close()


def static_topology(port: int) -> Topology:
    hybrid = preset("hybrid", sample_app.app)
    return msgspec.structs.replace(hybrid, groups=tuple(
        msgspec.structs.replace(g, addresses=tuple(f"tcp:{h}:{port}" for h in HOSTS[g.name]))
        for g in hybrid.groups))


def arguments(group: str, host: str, port: int, topology: Path) -> list[str]:
    return ["sample_app:app", "--group", group, "--topology", str(topology),
            "--listen", f"tcp:{host}:{port}", "--discovery", "static", "--grace", "5"]


async def test_calls_cross_processes_and_a_killed_replica_leaves_then_rejoins(
    workers: Processes, tmp_path: Path,
) -> None:
    port = free_port(*(h for hosts in HOSTS.values() for h in hosts))
    topology = static_topology(port)
    path = tmp_path / "static.toml"
    path.write_text(render_toml(topology))
    replicas = [await workers.worker(arguments(group, host, port, path))
                for group, hosts in HOSTS.items() for host in hosts]
    for replica in replicas:
        await replica.ready()
    core, model_a, model_b = replicas
    dead = f"tcp:127.0.0.4:{port}"
    discovery = StaticDiscovery("sample", "client", topology, environ={})
    async with AttachedDeployment(sample_app.app, topology, discovery) as client:
        front, model = client.get(Front), client.get(Model)
        # client -> core (127.0.0.2) -> model (127.0.0.3 or .4): two process hops.
        assert (await front.ask("over the wire")).text == "wire the over"
        assert await front.total([1, 2, 3, 4]) == 10
        pids = {await model.pid() for _ in range(8)}
        assert pids == {model_a.pid, model_b.pid}

        load = Load(model.pid, callers=4)  # idempotent: a call cut by the kill is retried
        await load.progress(20)
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        await model_b.kill()
        await eventually(lambda: dead not in client.membership.endpoints("model"),
                         LEAVES_WITHIN, what="the dead replica leaving the client's set")
        left_after = loop.time() - killed_at
        await load.progress(40)
        assert (await front.ask("still here")).text == "here still"  # core's set follows too
        assert not load.failures, load.failures[:3]

        restarted = await workers.worker(arguments("model", "127.0.0.4", port, path))
        await restarted.ready()
        back_at = loop.time()
        await eventually(lambda: dead in client.membership.endpoints("model"),
                         PROBE_INTERVAL + LEAVES_WITHIN, what="the restarted replica rejoining")
        rejoined_after = loop.time() - back_at
        await eventually(lambda: restarted.pid in load.results[-20:], 10,
                         what="calls reaching the restarted replica")
        await load.stop()
        assert not load.failures, load.failures[:3]
    print(f"left the set {left_after * 1000:.0f} ms after SIGKILL; "
          f"rejoined {rejoined_after * 1000:.0f} ms after it was ready again")
    for replica in (core, model_a, restarted):
        replica.signal(signal.SIGTERM)
        assert await replica.wait() == 0, replica.output


async def test_two_versions_side_by_side_fail_loudly(
    workers: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port("127.0.0.5")
    address = f"tcp:127.0.0.5:{port}"
    callee = await workers.worker(
        ["versioned_app:app", "--group", "main", "--listen", address, "--discovery", "static"],
        env={"VERSIONED_APP": "2"})
    await callee.ready()
    monkeypatch.delenv("VERSIONED_APP", raising=False)
    versioned = load_app("versioned_app:app")  # version 1 here
    topology = msgspec.structs.replace(preset("monolith", versioned), groups=(
        msgspec.structs.replace(preset("monolith", versioned).groups[0], addresses=(address,)),))
    discovery = StaticDiscovery(versioned.name, "client", topology, environ={})
    async with AttachedDeployment(versioned, topology, discovery) as client:
        with pytest.raises(InterfaceMismatch, match=(
                "caller has version 1, callee has version 2 .*: the callee requires "
                "parameter 'loud', which the caller does not send")):
            await client.proxy("Echo").echo("hello")
