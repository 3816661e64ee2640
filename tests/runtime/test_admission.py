"""A replica's admission: refusals while draining and beyond its limit, and how it drains."""

from __future__ import annotations

import asyncio

from genweave import Overloaded, Unavailable
from genweave.runtime.admission import Admission


async def test_calls_are_taken_up_to_the_limit_then_refused_as_overloaded() -> None:
    admission = Admission("g/0", max_in_flight=2)
    for _ in range(2):
        assert admission.refusal("Model", "run") is None
        admission.enter()
    refusal = admission.refusal("Model", "run")
    assert isinstance(refusal, Overloaded)
    assert str(refusal) == "Model.run: replica is at its limit of 2 calls in flight (at g/0)"
    assert admission.refused == 1
    admission.leave()
    assert admission.refusal("Model", "run") is None


async def test_admin_and_control_calls_pass_a_full_replica() -> None:
    admission = Admission("g/0", max_in_flight=0)
    assert admission.refusal("genweave.Admin", "load") is None
    assert admission.refusal("genweave.Control", "status") is None
    assert isinstance(admission.refusal("Model", "run"), Overloaded)


async def test_a_draining_replica_refuses_every_call_as_unavailable() -> None:
    admission = Admission("g/0")
    assert await admission.drain(grace=1.0, quiet=0.0)
    refusal = admission.refusal("genweave.Admin", "load")
    assert type(refusal) is Unavailable and "draining" in str(refusal)
    assert admission.refused == 0  # not an overload


async def test_drain_waits_for_the_calls_in_flight() -> None:
    admission = Admission("g/0")
    admission.enter()
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, admission.leave)
    start = loop.time()
    assert await admission.drain(grace=5.0, quiet=0.0)
    assert 0.1 <= loop.time() - start < 1.0
    assert admission.in_flight == 0


async def test_drain_waits_for_a_quiet_period_after_the_last_refusal() -> None:
    admission = Admission("g/0")
    loop = asyncio.get_running_loop()

    start = loop.time()
    assert await admission.drain(grace=5.0, quiet=0.1)
    assert 0.1 <= loop.time() - start < 0.5

    late: list[float] = []

    def late_caller() -> None:  # a call that arrives 80 ms into the quiet period
        assert admission.refusal("Model", "run") is not None
        late.append(loop.time())

    loop.call_later(0.08, late_caller)
    assert await admission.drain(grace=5.0, quiet=0.1)
    assert late and loop.time() >= late[0] + 0.1


async def test_drain_never_outlasts_its_grace() -> None:
    admission = Admission("g/0")
    admission.enter()  # a call that never finishes
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert not await admission.drain(grace=0.2, quiet=1.0)
    assert loop.time() - start < 0.5
