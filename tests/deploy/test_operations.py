"""Operations on a running deployment: autoscaling, rollouts, experiments, fault isolation.

Each runs under continuous load and checks that no call failed, bounded in time.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from ops_app import Studio, app

from conftest import Load, eventually
from genweave import CircuitOpen, Unavailable, deployment, with_metadata
from genweave.deploy.local import DeployError, LocalDeployer
from genweave.errors import TopologyError
from genweave.resilience import CircuitSettings, FallbackSettings, RefPolicy
from genweave.topology import Autoscale, Topology, Variant, resolve_topology

pytestmark = [pytest.mark.process, pytest.mark.slow]


@pytest.fixture(params=["hybrid", "microservices"])
def split(request: pytest.FixtureRequest) -> Callable[..., Topology]:
    """A preset that puts Painter in a ``painter`` group of its own, with options for it."""

    def topology(**painter: Any) -> Topology:
        chosen = resolve_topology(request.param, app)
        return msgspec.structs.replace(chosen, groups=tuple(
            msgspec.structs.replace(g, **painter) if g.name == "painter" else g
            for g in chosen.groups))

    return topology


async def started(topology: Topology, logs: list[str] | None = None) -> LocalDeployer:
    deployer = deployment("ops_app:app", topology, "process",
                          log=(logs.append if logs is not None else lambda line: None),
                          grace=10.0)
    assert isinstance(deployer, LocalDeployer)
    await deployer.start()
    return deployer


# -- selective scaling -------------------------------------------------------------------


async def test_autoscaling_follows_a_load_ramp_and_leaves_other_groups_alone(
    split: Callable[..., Topology],
) -> None:
    scale = Autoscale(max=3, min=1, target_in_flight=2, up_delay=0.5, down_delay=1.5,
                      interval=0.2)
    logs: list[str] = []
    d = await started(split(autoscale=scale), logs)
    try:
        studio = d.get(Studio)
        others = {g.name: d.pid(g.name) for g in d.topology.groups if g.name != "painter"}
        load = Load(lambda: studio.work(0.05), callers=8)  # ~8 in flight: wants 3 (max)
        await eventually(lambda: len(d.membership.endpoints("painter")) == 3, 20)
        await load.stop()
        await eventually(lambda: len(d.replicas["painter"]) == 1, 20)
        assert not load.failures, load.failures[:3]
        assert all(len(replicas) == 1 for replicas in d.replicas.values())
        assert {name: d.pid(name) for name in others} == others  # never touched
        assert any("[autoscaler] painter: 1 -> 3 replicas" in line for line in logs), logs
        assert any("[autoscaler] painter: 3 -> 1 replicas" in line for line in logs), logs
    finally:
        await d.stop()


async def test_scaling_a_monolith_replicates_the_whole_process() -> None:
    d = await started(resolve_topology("monolith", app))
    try:
        studio = d.get(Studio)
        await d.scale("main", 2)
        pids = {(await studio.whoami()).pid for _ in range(20)}
        assert len(pids) == 2  # both processes answer, each with its own Painter
        assert [r.name for r in d.status().replicas] == ["main/0", "main/1"]
    finally:
        await d.stop()


# -- zero-downtime rollout ----------------------------------------------------------------


async def test_rollout_under_load_fails_nothing_and_streams_finish_on_the_old_version(
    split: Callable[..., Topology],
) -> None:
    d = await started(split(replicas=2))
    try:
        studio = d.get(Studio)
        load = Load(lambda: studio.paint("sky"), callers=6)  # paint is not idempotent
        strokes: list[str] = []

        async def long_stream() -> None:
            async for stroke in studio.strokes(30, 0.05):  # 1.5 s, across the switch
                strokes.append(stroke)

        stream = asyncio.create_task(long_stream())
        await eventually(lambda: len(strokes) > 2, 10)
        version = await d.rollout("painter", {"Painter": {"label": "v2"}})
        after = len(load.results)
        await load.progress(40)
        await load.stop()
        await stream
        assert version == "2"
        assert not load.failures, load.failures[:3]
        assert strokes == [f"v1:{i}" for i in range(30)]  # the whole stream on v1
        assert set(load.results[after + 20:]) == {"v2:sky"}
        assert await studio.paint("sky") == "v2:sky"
        painters = [r for r in d.status().replicas if r.group == "painter"]
        assert [(r.version, r.state) for r in painters] == [("2", "ready")] * 2
    finally:
        await d.stop()


async def test_a_rollout_that_cannot_start_leaves_the_old_version_serving() -> None:
    d = await started(resolve_topology("hybrid", app))
    try:
        studio = d.get(Studio)
        with pytest.raises(TopologyError, match=r"\[components.Painter\] label: Expected `str`"):
            await d.rollout("painter", {"Painter": {"label": 3}})
        with pytest.raises(DeployError,
                           match="(?s)version 1 keeps serving.*version v9 cannot start"):
            await d.rollout("painter", {"Painter": {"label": "v9", "fail_on_start": True}})
        assert await studio.paint("sky") == "v1:sky"
        assert [r.version for r in d.status().replicas if r.group == "painter"] == ["1"]
    finally:
        await d.stop()


# -- experiments --------------------------------------------------------------------------


async def test_a_weighted_split_is_measured_sticky_and_shadowed(
    split: Callable[..., Topology],
) -> None:
    variants = (Variant("canary", weight=10, settings={"Painter": {"label": "canary"}}),
                Variant("candidate", shadow=True, settings={"Painter": {"label": "shadow"}}))
    d = await started(split(variants=variants))
    try:
        studio = d.get(Studio)

        async def paint_as(user: str) -> str:
            with with_metadata(user=user):
                return await studio.paint("sky")

        users = [f"user-{i}" for i in range(1000)]
        answers: dict[str, str] = {}

        async def caller(mine: list[str]) -> None:  # 20 at a time: under the shadow limit
            for user in mine:
                answers[user] = await paint_as(user)

        await asyncio.gather(*(caller(users[i::20]) for i in range(20)))
        share = collections.Counter(answers.values())
        assert set(share) == {"v1:sky", "canary:sky"}  # the shadow's answers are discarded
        assert abs(share["canary:sky"] / 1000 - 0.10) < 0.03, share
        for user in users[::50]:  # the same user lands on the same variant every time
            assert await paint_as(user) == answers[user]

        async def calls_per_variant() -> collections.Counter[str]:
            calls: collections.Counter[str] = collections.Counter()
            for replica in await d.metrics():
                for v in replica.variants:
                    calls[v.method] += v.calls
                    assert v.errors == 0, v
            return calls

        calls = await calls_per_variant()
        assert calls["primary"] + calls["canary"] == 1020

        async def all_copied() -> bool:  # every call was copied to the shadow
            return (await calls_per_variant())["candidate"] >= 1020

        await eventually(all_copied, 10)
        variants_of = {r.name: r.variant for r in d.status().replicas if r.group == "painter"}
        assert sorted(variants_of.values()) == ["", "canary", "candidate"]
    finally:
        await d.stop()


# -- fault isolation -----------------------------------------------------------------------


async def test_a_stopped_group_is_replaced_by_its_fallback_component(
    split: Callable[..., Topology],
) -> None:
    policy = RefPolicy(circuit=CircuitSettings(failures=2, reset_after=0.3),
                       fallback=FallbackSettings(component="SparePainter"))
    d = await started(msgspec.structs.replace(split(), refs={"Painter": policy}))
    try:
        studio = d.get(Studio)
        load = Load(lambda: studio.paint("sky"), callers=4)
        await load.progress(10)
        await d.stop_group("painter")
        await eventually(lambda: load.results[-1:] == ["spare:sky"], 10)
        during = len(load.results)
        await load.progress(20)
        assert set(load.results[during:]) == {"spare:sky"}
        await d.start_group("painter")
        await eventually(lambda: load.results[-1:] == ["v1:sky"], 10)  # the circuit closed itself
        await load.stop()
        assert not load.failures, load.failures[:3]
    finally:
        await d.stop()


async def test_without_a_fallback_an_open_circuit_fails_fast() -> None:
    policy = RefPolicy(circuit=CircuitSettings(failures=2, reset_after=0.5))
    d = await started(msgspec.structs.replace(resolve_topology("hybrid", app),
                                              refs={"Painter": policy}))
    try:
        studio = d.get(Studio)
        await d.stop_group("painter")
        for _ in range(2):
            with pytest.raises(Unavailable, match="group 'painter' is stopped"):
                await studio.paint("sky")
        with pytest.raises(CircuitOpen):
            await studio.paint("sky")
    finally:
        await d.stop()


async def test_a_stream_is_served_by_its_variant_while_the_shadow_gets_a_copy(
    split: Callable[..., Topology],
) -> None:
    variants = (Variant("candidate", shadow=True, settings={"Painter": {"label": "shadow"}}),)
    d = await started(split(variants=variants))
    try:
        studio = d.get(Studio)
        assert [s async for s in studio.strokes(3)] == ["v1:0", "v1:1", "v1:2"]

        async def shadow_calls() -> int:
            return sum(v.calls for r in await d.metrics() for v in r.variants
                       if v.method == "candidate" and v.errors == 0)

        async def copied() -> bool:  # the copy was read to its end, then discarded
            return await shadow_calls() >= 1

        await eventually(copied, 5)
    finally:
        await d.stop()
