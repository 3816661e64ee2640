"""``genweave worker``: one replica's life as its probes and callers see it.

Its whole life under the local supervisor (ready, draining, graceful exit,
dying with its supervisor) is exercised in test_local.py; here, what the
worker does itself: probes that follow it from start to drain, its own
metrics, a drain that finishes the call in flight, refuses new ones and exits
0 within its grace period, and flags that cannot work refused before it starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from http import HTTPStatus
from pathlib import Path

import httpx
import msgspec
import pytest
import pytest_asyncio
from lifecycle_app import GATE_ENV, Keeper
from sample_app import app
from worker_process import Processes, free_port

from conftest import eventually
from genweave import Unavailable
from genweave.application import load_app
from genweave.deploy.attach import AttachedDeployment
from genweave.deploy.control import WORKER_ENV, WorkerSpec, worker_arguments
from genweave.deploy.supervisor import WORKER_MODULE
from genweave.runtime.discovery import StaticDiscovery
from genweave.topology import preset

pytestmark = pytest.mark.process

HOST = "127.0.0.6"
GRACE = 5.0


@pytest_asyncio.fixture
async def workers() -> AsyncIterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        await started.close()


def test_a_worker_whose_supervisor_is_gone_exits_at_once() -> None:
    not_my_parent = os.getpid() + 1_000_000
    spec = WorkerSpec("sample_app:app", preset("monolith", app), "main", 0, "unix:/nowhere",
                      "unix:/nowhere", not_my_parent, 1.0)
    env = {**os.environ, WORKER_ENV: msgspec.json.encode(spec).decode(),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-m", WORKER_MODULE, *worker_arguments(spec)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "genweave worker: supervisor is gone"


async def test_probes_follow_the_replica_from_start_through_drain_to_exit(
    workers: Processes, tmp_path: Path,
) -> None:
    port, probe_port = free_port(HOST), free_port(HOST)
    while probe_port == port:
        probe_port = free_port(HOST)
    address = f"tcp:{HOST}:{port}"
    gate = tmp_path / "gate"
    worker = await workers.worker(
        ["lifecycle_app:app", "--group", "main", "--listen", address, "--discovery", "static",
         "--probe-port", str(probe_port), "--grace", f"{GRACE:g}"],
        env={GATE_ENV: str(gate), "GENWEAVE_ADDRESSES_MAIN": address})
    lifecycle = load_app("lifecycle_app:app")
    topology = preset("monolith", lifecycle)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{probe_port}", trust_env=False,
                                 timeout=5.0) as http:
        async def get(path: str) -> httpx.Response | None:
            try:
                return await http.get(path)
            except httpx.TransportError:
                return None  # not listening yet

        async def answered(path: str) -> httpx.Response:
            return await eventually(lambda: get(path), 60, what=f"{path} answering")

        # Starting: alive, not ready (on_start waits for the gate).
        assert (await answered("/healthz")).status_code == HTTPStatus.OK
        starting = await answered("/readyz")
        assert (starting.status_code, starting.json()["state"]) == (
            HTTPStatus.SERVICE_UNAVAILABLE, "starting")
        gate.touch()
        await worker.ready()
        assert (await http.get("/readyz")).status_code == HTTPStatus.OK

        discovery = StaticDiscovery(lifecycle.name, "client", topology,
                                    environ={"GENWEAVE_ADDRESSES_MAIN": address})
        async with AttachedDeployment(lifecycle, topology, discovery) as client:
            keeper = client.get(Keeper)
            assert await keeper.ping() == "pong"
            scraped = (await http.get("/metrics")).text
            replica = f"main/{HOST}:{port}"
            assert (f'genweave_calls_total{{component="Keeper",method="ping",'
                    f'replica="{replica}"}} 1.0') in scraped
            assert (f'genweave_replica_ready{{group="main",replica="{replica}",variant="",'
                    f'version="1"}} 1.0') in scraped

            held = asyncio.create_task(keeper.hold(1.5))

            async def holding() -> bool:
                text = (await http.get("/metrics")).text
                return ('genweave_calls_in_flight{component="Keeper",method="hold",'
                        f'replica="{replica}"}} 1.0') in text

            await eventually(holding, 10, what="the hold call in flight")
            stopped_at = asyncio.get_running_loop().time()
            worker.signal(signal.SIGTERM)
            draining = await eventually(lambda: _state(http, "draining"), 5,
                                        what="/readyz answering 503 draining")
            assert draining.status_code == HTTPStatus.SERVICE_UNAVAILABLE
            with pytest.raises(Unavailable, match="draining"):
                await keeper.ping()  # a new call is refused ...
            assert await held == "held 1.5s"  # ... while the one in flight finishes
        assert await worker.wait(GRACE + 2) == 0, worker.output
        assert asyncio.get_running_loop().time() - stopped_at < GRACE
    assert worker.lines[-1].endswith("INFO genweave.worker: stopped")
    assert all(line.startswith(f"[{replica}] ") for line in worker.lines), worker.output


async def _state(http: httpx.AsyncClient, state: str) -> httpx.Response | None:
    response = await http.get("/readyz")
    return response if response.json()["state"] == state else None
