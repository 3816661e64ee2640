"""The supervisor's control interface, served on a Unix socket as the local deployer serves it
and called through a remote Ref as workers and the CLI call it; the supervisor's side is a
scripted ``ControlState``."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import pytest_asyncio
from sample_app import app

from conftest import eventually
from genweave.component import spec_of
from genweave.deploy.control import CONTROL_SOCKET, Control, DeploymentInfo
from genweave.errors import TopologyError
from genweave.runtime.callee import Callee
from genweave.runtime.introspect import DeploymentStatus, ReplicaStatus
from genweave.runtime.membership import Membership, MembershipView
from genweave.runtime.refs import remote_proxy
from genweave.runtime.router import Router
from genweave.topology import preset
from genweave.transport.endpoints import listen

TOPOLOGY = preset("hybrid", app)


class ScriptedState:
    """What a supervisor would expose; every request is written down."""

    def __init__(self) -> None:
        self.requests: list[tuple[Any, ...]] = []
        self.replicas = [ReplicaStatus("core", 0, "ready", 11), ReplicaStatus("model", 0,
                                                                              "ready", 12)]
        self.scaling = asyncio.Event()
        self.scaled = asyncio.Event()
        self.views: asyncio.Queue[MembershipView] = asyncio.Queue()
        self.waiting_after: list[int] = []
        self.waits_cancelled = 0

    def info(self) -> DeploymentInfo:
        return DeploymentInfo("sample", "sample_app:app", TOPOLOGY, 4242)

    def replica_ready(self, group: str, replica: int, address: str, pid: int) -> None:
        self.requests.append(("ready", group, replica, address, pid))

    def replica_draining(self, group: str, replica: int) -> None:
        self.requests.append(("draining", group, replica))

    async def next_view(self, after: int) -> MembershipView:
        self.waiting_after.append(after)
        try:
            return await self.views.get()
        except asyncio.CancelledError:
            self.waits_cancelled += 1
            raise

    def status(self) -> DeploymentStatus:
        return DeploymentStatus("sample", "hybrid", list(self.replicas))

    async def scale(self, group: str, replicas: int) -> None:
        if group not in {g.name for g in TOPOLOGY.groups}:
            raise TopologyError(f"topology 'hybrid' has no group '{group}'")
        self.scaling.set()
        await self.scaled.wait()
        self.replicas = [r for r in self.replicas if r.group != group] + [
            ReplicaStatus(group, i, "ready", 100 + i) for i in range(replicas)]

    async def rollout(self, group: str, settings: dict[str, dict[str, Any]] | None,
                      version: str | None) -> str:
        self.requests.append(("rollout", group, settings, version))
        return version or "2"


@pytest.fixture
def state() -> ScriptedState:
    return ScriptedState()


@pytest_asyncio.fixture
async def control(state: ScriptedState) -> AsyncIterator[Control]:
    """A Ref to the Control served on a Unix socket, as a worker holds one."""
    rundir = tempfile.mkdtemp(prefix="gw-control-")  # short: a socket path has ~100 bytes
    address = f"unix:{os.path.join(rundir, CONTROL_SOCKET)}"
    callee = Callee("sample", "supervisor", {"genweave.Control": (Control(state),
                                                                  spec_of(Control))})
    server, _ = await listen(address, callee)
    assert server is not None
    router = Router("sample", "model/0", Membership({"control": [address]}), ready_wait=0.0)
    try:
        yield cast(Control, remote_proxy(spec_of(Control), router, "control", "model/0"))
    finally:
        await router.close()
        server.close()
        await server.wait_closed()
        shutil.rmtree(rundir)


async def test_workers_register_ready_and_announce_draining(control: Control,
                                                            state: ScriptedState) -> None:
    await control.register("model", 1, "unix:/run/model-1.sock", 4321)
    await control.draining("model", 1)
    assert state.requests == [("ready", "model", 1, "unix:/run/model-1.sock", 4321),
                              ("draining", "model", 1)]


async def test_describe_gives_what_a_client_needs_with_the_topology_intact(
    control: Control,
) -> None:
    info = await control.describe()
    assert (info.app, info.import_path, info.pid) == ("sample", "sample_app:app", 4242)
    assert info.topology == TOPOLOGY


async def test_status_lists_every_replica(control: Control) -> None:
    status = await control.status()
    assert status.ready() and [r.name for r in status.replicas] == ["core/0", "model/0"]


async def test_scale_answers_once_the_new_replicas_are_there(control: Control,
                                                             state: ScriptedState) -> None:
    scaling = asyncio.create_task(control.scale("model", 3))
    await asyncio.wait_for(state.scaling.wait(), 5)
    assert not scaling.done()
    state.scaled.set()
    status = await asyncio.wait_for(scaling, 5)
    assert [r.name for r in status.replicas if r.group == "model"] == [
        "model/0", "model/1", "model/2"]


async def test_a_refused_change_reaches_the_caller_with_its_reason(control: Control) -> None:
    with pytest.raises(TopologyError, match="topology 'hybrid' has no group 'modle'"):
        await control.scale("modle", 2)


async def test_rollout_passes_settings_and_an_empty_version_means_the_next_one(
    control: Control, state: ScriptedState,
) -> None:
    status = await control.rollout("model", {"Model": {}})
    await control.rollout("model", {}, "canary")
    assert state.requests == [("rollout", "model", {"Model": {}}, None),
                              ("rollout", "model", {}, "canary")]
    assert [r.name for r in status.replicas] == ["core/0", "model/0"]


async def test_watch_streams_each_view_and_asks_for_the_next_after_it(
    control: Control, state: ScriptedState,
) -> None:
    views = control.watch(0)
    first = MembershipView(1, {"core": ["unix:/a"], "model": []})
    second = MembershipView(3, {"core": ["unix:/a"], "model": ["unix:/b"]}, down=["model"])
    for view in (first, second):
        state.views.put_nowait(view)
    assert await anext(views) == first
    assert await anext(views) == second
    await eventually(lambda: state.waiting_after == [0, 1, 3])
    await views.aclose()  # type: ignore[attr-defined]


async def test_a_watcher_that_leaves_stops_the_wait_behind_it(control: Control,
                                                              state: ScriptedState) -> None:
    views = control.watch(5)
    waiting = asyncio.create_task(anext(views))
    await eventually(lambda: state.waiting_after == [5])
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await views.aclose()  # type: ignore[attr-defined]
    await eventually(lambda: state.waits_cancelled == 1,
                     what="the supervisor's wait for the next view was cancelled")
