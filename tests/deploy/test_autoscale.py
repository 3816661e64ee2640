"""Autoscaling: the pure rule (``ScalePlan``) and the loop that applies it to one group.

The autoscaler only needs a ``ScalableDeployment``: here a fake one, with a fake
clock, so every decision is checked without a process or a real second passing.
"""

from __future__ import annotations

import pytest

from conftest import eventually
from genweave.deploy.autoscale import Autoscaler, ScalableDeployment, ScalePlan
from genweave.errors import Unavailable
from genweave.topology import Autoscale


def test_scale_plan_waits_out_its_delays() -> None:
    plan = ScalePlan(Autoscale(max=4, min=1, target_in_flight=2, up_delay=1.0, down_delay=3.0))
    assert plan.observe(0.0, 8, current=1) is None  # wants 4, but has not waited up_delay
    assert plan.observe(0.5, 1, current=1) is None
    assert plan.observe(1.0, 8, current=1) is None  # one sample in the window wanted 1
    assert plan.observe(1.6, 8, current=1) == 4
    plan.changed(1.6)
    assert plan.observe(2.0, 0, current=4) is None
    assert plan.observe(4.0, 3, current=4) is None  # not yet down_delay since the change
    assert plan.observe(4.7, 0, current=4) == 2  # the most wanted over 3 s: 2 replicas
    assert plan.observe(5.0, 100, current=0) == 1  # below min: fixed at once


def test_wanted_replicas_stay_within_min_and_max() -> None:
    plan = ScalePlan(Autoscale(max=3, min=2, target_in_flight=4))
    assert [plan.wanted(n) for n in (0, 4, 9, 12, 100)] == [2, 2, 3, 3, 3]


class FakeDeployment:
    """A group whose load the test sets, and which scales at once."""

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas
        self.in_flight = 0
        self.scaled: list[int] = []
        self.failure: Exception | None = None

    def replica_count(self, group: str) -> int:
        assert group == "model"
        return self.replicas

    async def calls_in_flight(self, group: str) -> int:
        if self.failure is not None:
            raise self.failure
        return self.in_flight

    async def scale(self, group: str, replicas: int) -> None:
        self.scaled.append(replicas)
        self.replicas = replicas


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SETTINGS = Autoscale(max=4, min=1, target_in_flight=2, up_delay=1.0, down_delay=3.0)


def autoscaler(deployment: FakeDeployment, clock: Clock, logs: list[str]) -> Autoscaler:
    scalable: ScalableDeployment = deployment  # the fake is one, structurally
    return Autoscaler(scalable, "model", SETTINGS, logs.append, clock=clock)


async def test_the_autoscaler_follows_load_after_its_delays() -> None:
    deployment, clock, logs = FakeDeployment(replicas=1), Clock(), []
    scaler = autoscaler(deployment, clock, logs)
    deployment.in_flight = 7  # wants 4
    for clock.now in (0.0, 0.5, 1.0):
        await scaler.step()
    assert deployment.scaled == [4]
    assert logs == ["[autoscaler] model: 1 -> 4 replicas (7 calls in flight, "
                    "target 2 per replica)"]
    deployment.in_flight = 0  # wants 1, but only after down_delay since the change
    for clock.now in (1.5, 2.0, 3.0, 3.9):
        await scaler.step()
    assert deployment.scaled == [4]
    clock.now = 4.0
    await scaler.step()
    assert deployment.scaled == [4, 1]


async def test_a_burst_shorter_than_up_delay_changes_nothing() -> None:
    deployment, clock, logs = FakeDeployment(replicas=1), Clock(), []
    scaler = autoscaler(deployment, clock, logs)
    for clock.now, deployment.in_flight in ((0.0, 0), (0.4, 8), (0.8, 8), (1.2, 0), (1.6, 8)):
        await scaler.step()
    assert deployment.scaled == [] and logs == []


async def test_the_background_loop_survives_a_failed_sample(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployment, logs = FakeDeployment(replicas=1), []
    fast = Autoscale(max=2, target_in_flight=1, up_delay=0, interval=0.01)
    scaler = Autoscaler(deployment, "model", fast, logs.append)
    deployment.failure = Unavailable("group 'model' is stopped")
    scaler.start()
    try:
        await eventually(lambda: "autoscaler for model" in caplog.text)
        deployment.failure = None
        deployment.in_flight = 2
        await eventually(lambda: deployment.scaled == [2])
    finally:
        await scaler.close()
    await scaler.close()  # closing twice is harmless
