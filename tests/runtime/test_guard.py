"""Ref isolation policies: the same timeouts, bulkheads, circuits and fallbacks everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio
from ops_app import Studio, app

from conftest import MATRIX, eventually
from genweave import CircuitOpen, DeadlineExceeded, Deployment, Overloaded, deploy
from genweave.resilience import CircuitSettings, FallbackSettings, RefPolicy
from genweave.topology import Topology, resolve_topology

POLICY = RefPolicy(timeout=0.2, bulkhead=4, circuit=CircuitSettings(failures=3, reset_after=0.5),
                   fallback=FallbackSettings(values={"paint": "fallback"}))


def guarded(preset: str) -> Topology:
    return msgspec.structs.replace(resolve_topology(preset, app), refs={"Painter": POLICY})


@pytest_asyncio.fixture(scope="module", params=MATRIX)
async def running(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    placement, preset = request.param
    options = {"log": lambda line: None} if placement == "process" else {}
    async with deploy("ops_app:app", guarded(preset), placement, **options) as deployment:
        yield deployment


async def test_a_ref_timeout_bounds_each_call(running: Deployment) -> None:
    studio = running.get(Studio)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(DeadlineExceeded):
        await studio.work(5.0)
    assert loop.time() - start < 2.0
    assert await studio.work(0.0) == "v1"  # a success closes the count of failures again


async def test_the_bulkhead_refuses_calls_beyond_its_limit_at_once(running: Deployment) -> None:
    studio = running.get(Studio)
    results = await asyncio.gather(*(studio.work(0.1) for _ in range(6)),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert len(refused) == 2 and results.count("v1") == 4
    assert "bulkhead full (4 calls in flight" in str(refused[0])


async def test_the_circuit_opens_serves_fallbacks_and_closes_after_a_trial(
    running: Deployment,
) -> None:
    studio = running.get(Studio)
    for _ in range(3):
        with pytest.raises(DeadlineExceeded):
            await studio.work(5.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CircuitOpen, match="circuit open"):
        await studio.work(0.0)
    assert loop.time() - start < 0.1  # failing fast: nothing was sent
    assert await studio.paint("sky") == "fallback"  # declared fallback value

    async def a_trial_closes_it() -> bool:
        """Once half-open, one trial call goes through and closes the circuit."""
        try:
            return await studio.work(0.0) == "v1"
        except CircuitOpen:
            return False

    await eventually(a_trial_closes_it, timeout=5.0)
    assert await studio.paint("sky") == "v1:sky"


async def test_application_errors_do_not_open_the_circuit(running: Deployment) -> None:
    studio = running.get(Studio)
    for _ in range(5):
        with pytest.raises(TypeError):
            await studio.work("not a number")  # type: ignore[arg-type]
        assert await studio.paint("x") == "v1:x"
