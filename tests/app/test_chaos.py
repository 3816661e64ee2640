"""Chaos under load, through the HTTP API: replicas killed and groups stopped mid-traffic.

The reference app runs as processes with its own Ref policies (a circuit breaker
on the Illustrator), under each preset that splits it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable
from http import HTTPStatus

import httpx
import msgspec
import pytest
import pytest_asyncio
from reference_app import app_topology

from conftest import Load, eventually
from genweave import deploy
from genweave.app.gateway import Gateway
from genweave.deploy.local import LocalDeployer
from genweave.resilience import CircuitSettings, RefPolicy

pytestmark = [pytest.mark.process, pytest.mark.slow]

RESET_AFTER = 1.0


@pytest_asyncio.fixture(scope="module", params=["microservices", "hybrid"])
async def running(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalDeployer]:
    topology = app_topology(request.param, tmp_path_factory.mktemp("data"))
    groups = tuple(msgspec.structs.replace(g, replicas=2) if g.name == "embedder" else g
                   for g in topology.groups)
    illustrator = RefPolicy(circuit=CircuitSettings(failures=2, reset_after=RESET_AFTER))
    topology = msgspec.structs.replace(topology, groups=groups,
                                       refs={**topology.refs, "Illustrator": illustrator})
    async with deploy("genweave.app:app", topology, "process",
                      log=lambda line: None) as deployment:
        assert isinstance(deployment, LocalDeployer)
        yield deployment


@pytest_asyncio.fixture
async def client(running: LocalDeployer) -> AsyncIterator[httpx.AsyncClient]:
    url = await running.get(Gateway).url()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


async def status(request: Awaitable[httpx.Response]) -> int:
    return (await request).status_code


def chat(http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    return http.post("/v1/chat/completions", json={
        "model": "genweave-assistant", "max_tokens": 6, "seed": 1,
        "messages": [{"role": "user", "content": "What is a generator?"}]})


def image(http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    return http.post("/v1/images/generations", json={"prompt": "a 7", "size": "256x256"})


async def test_killing_one_of_two_replicas_fails_no_idempotent_call(
    running: LocalDeployer, client: httpx.AsyncClient,
) -> None:
    load = Load(lambda: status(client.post("/v1/embeddings", json={
        "model": "all-MiniLM-L6-v2", "input": ["what is a generator?", "a with statement"]})),
        callers=6)
    await load.progress(6)  # traffic flows to both replicas
    victim = running.pid("embedder", 0)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    # Traffic goes on through the death, the restart and the return of the replica.
    await eventually(lambda: running.pid("embedder", 0) not in (None, victim), timeout=30,
                     what="the killed replica's restart")
    await running.wait_ready("embedder", 0)
    await load.progress(12)
    codes = await load.stop()
    assert not load.failures, load.failures
    assert len(codes) > 20 and set(codes) == {200}, codes


async def test_chat_survives_a_stopped_illustrator_whose_circuit_opens_then_recovers(
    running: LocalDeployer, client: httpx.AsyncClient,
) -> None:
    assert (await image(client)).status_code == 200
    load = Load(lambda: status(chat(client)), callers=2)
    await running.stop_group("illustrator")
    failures = []
    for _ in range(6):
        start = time.perf_counter()
        response = await image(client)
        failures.append((response.status_code, response.json()["error"]["code"],
                         time.perf_counter() - start))
    assert {code for code, _, _ in failures} == {503}
    assert [kind for _, kind, _ in failures][-3:] == ["circuit_open"] * 3
    assert max(seconds for _, _, seconds in failures) < 0.5  # fail fast, never hang
    await running.start_group("illustrator")
    # The circuit closes on its own once the Illustrator is back.
    await eventually(lambda: _image_ok(client), timeout=RESET_AFTER + 10, interval=0.2)
    codes = await load.stop()
    assert not load.failures, load.failures
    assert len(codes) >= 2 and set(codes) == {200}, codes


async def _image_ok(http: httpx.AsyncClient) -> bool:
    return (await image(http)).status_code == HTTPStatus.OK
