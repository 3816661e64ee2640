"""Chaos under load, through the HTTP API: replicas killed and groups stopped mid-traffic.

The reference app runs as processes with its own Ref policies (a circuit breaker
on the Illustrator), under each preset that splits it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio
from reference_app import app_topology

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


class Traffic:
    """Callers repeating one request; every status code is kept."""

    def __init__(self, send: Any, callers: int) -> None:
        self.codes: list[int] = []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._run(send)) for _ in range(callers)]

    async def _run(self, send: Any) -> None:
        while not self._stop.is_set():
            self.codes.append((await send()).status_code)

    async def stop(self) -> list[int]:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.codes


def chat(http: httpx.AsyncClient) -> Any:
    return http.post("/v1/chat/completions", json={
        "model": "genweave-assistant", "max_tokens": 6, "seed": 1,
        "messages": [{"role": "user", "content": "What is a generator?"}]})


def image(http: httpx.AsyncClient) -> Any:
    return http.post("/v1/images/generations", json={"prompt": "a 7", "size": "256x256"})


async def test_killing_one_of_two_replicas_fails_no_idempotent_call(
    running: LocalDeployer, client: httpx.AsyncClient,
) -> None:
    traffic = Traffic(lambda: client.post("/v1/embeddings", json={
        "model": "all-MiniLM-L6-v2", "input": ["what is a generator?", "a with statement"]}),
        callers=6)
    await asyncio.sleep(0.5)
    victim = running.pid("embedder", 0)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    await asyncio.sleep(1.0)
    codes = await traffic.stop()
    assert len(codes) > 20 and set(codes) == {200}, codes
    await running.wait_ready("embedder", 0)


async def test_chat_survives_a_stopped_illustrator_whose_circuit_opens_then_recovers(
    running: LocalDeployer, client: httpx.AsyncClient,
) -> None:
    assert (await image(client)).status_code == 200
    traffic = Traffic(lambda: chat(client), callers=2)
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
    async with asyncio.timeout(RESET_AFTER + 10):  # the circuit closes on its own
        while (await image(client)).status_code != 200:
            await asyncio.sleep(0.2)
    codes = await traffic.stop()
    assert len(codes) >= 2 and set(codes) == {200}, codes
