"""Oversized messages are refused with a clear error, and the connection keeps working."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio
from sample_app import Front, Model, app

from conftest import eventually
from genweave import Deployment, MessageTooLarge, Overloaded, deploy
from genweave.deploy.local import LocalDeployer
from genweave.topology import Topology, preset

LIMIT = 1 << 20


@pytest_asyncio.fixture(scope="module", params=[
    "codec", pytest.param("process", marks=pytest.mark.process)])
async def limited(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    topology = msgspec.structs.replace(preset("microservices", app), max_message_bytes=LIMIT)
    options = {"log": lambda line: None} if request.param == "process" else {}
    async with deploy("sample_app:app", topology, request.param, **options) as running:
        yield running


async def test_oversized_arguments_are_refused_before_sending(limited: Deployment) -> None:
    model = limited.get(Model)
    with pytest.raises(MessageTooLarge, match=r"Model.size_of: arguments encode to \d+ bytes, "
                                              f"above the {LIMIT}-byte message limit"):
        await model.size_of(b"x" * (2 * LIMIT))
    assert await model.size_of(b"x" * 1000) == 1000


async def test_an_oversized_result_is_refused_by_the_callee(limited: Deployment) -> None:
    model = limited.get(Model)
    with pytest.raises(MessageTooLarge, match="Model.blob: result encodes to") as caught:
        await model.blob(2 * LIMIT)
    assert caught.value.status == 413
    assert len(await model.blob(10)) == 10


@pytest.fixture(params=["codec", pytest.param("process", marks=pytest.mark.process)])
def placement(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def running_now(running: Deployment, component: str, method: str) -> int:
    """Calls of ``component.method`` running at its replicas now, from their metrics
    (which pass a replica's limit: its admin calls are never refused)."""
    deployer = running if isinstance(running, LocalDeployer) else running.runtime  # type: ignore[attr-defined]
    return sum(m.in_flight for replica in await deployer.metrics() for m in replica.methods
               if (m.component, m.method) == (component, method))


def model_limited_to(limit: int) -> Topology:
    topology = preset("microservices", app)
    return msgspec.structs.replace(topology, groups=tuple(
        msgspec.structs.replace(g, max_in_flight=limit) if g.name == "model" else g
        for g in topology.groups))


async def test_a_caller_is_refused_at_once_beyond_a_replicas_limit(placement: str) -> None:
    options = {"log": lambda line: None} if placement == "process" else {}
    async with deploy("sample_app:app", model_limited_to(3), placement, **options) as running:
        model = running.get(Model)
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await asyncio.gather(*(model.sleep(0.5) for _ in range(6)),
                                       return_exceptions=True)
        refused = [r for r in results if isinstance(r, Overloaded)]
        assert results.count("slept") == 3 and len(refused) == 3
        assert "this caller already has 3 calls in flight on each of the 1 ready replica" \
            in str(refused[0])
        assert loop.time() - start < 1.5  # refusals did not wait behind the running calls
        assert (await model.stats())["started"] == 3  # a refused call is never sent
        assert await model.echo("still serving") == "still serving"


async def test_a_replica_refuses_what_several_callers_send_beyond_its_limit(
    placement: str,
) -> None:
    options = {"log": lambda line: None} if placement == "process" else {}
    async with deploy("sample_app:app", model_limited_to(3), placement, **options) as running:
        model, front = running.get(Model), running.get(Front)
        direct = [asyncio.ensure_future(model.sleep(0.5)) for _ in range(3)]

        async def the_three_run_at_the_replica() -> bool:
            return await running_now(running, "Model", "sleep") == 3

        await eventually(the_three_run_at_the_replica)
        relayed = await asyncio.gather(*(front.relay_sleep(0.5) for _ in range(3)),
                                       return_exceptions=True)
        assert await asyncio.gather(*direct) == ["slept"] * 3
        assert all(isinstance(r, Overloaded) for r in relayed), relayed
        assert "replica is at its limit of 3 calls in flight" in str(relayed[0])
