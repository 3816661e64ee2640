"""The probe port: what each path answers in each state, and the small server that serves it."""

from __future__ import annotations

import json
from http import HTTPStatus

import httpx
import pytest

from genweave.deploy.probes import ProbeServer, State, respond
from genweave.observe.prometheus import CONTENT_TYPE


def metrics() -> bytes:
    return b"genweave_calls_total 1.0\n"


@pytest.mark.parametrize(("state", "status"), [
    ("starting", HTTPStatus.SERVICE_UNAVAILABLE),
    ("ready", HTTPStatus.OK),
    ("draining", HTTPStatus.SERVICE_UNAVAILABLE),
])
def test_readiness_is_ok_only_between_start_and_drain(state: State, status: HTTPStatus) -> None:
    response = respond("GET", "/readyz", state, metrics)
    assert response.status == status
    assert json.loads(response.body) == {"ready": state == "ready", "state": state}


@pytest.mark.parametrize("state", ["starting", "ready", "draining"])
def test_liveness_is_ok_while_the_process_answers(state: State) -> None:
    assert respond("GET", "/healthz", state, metrics).status == HTTPStatus.OK


def test_metrics_are_the_replicas_prometheus_text() -> None:
    assert respond("GET", "/metrics?x=1", "ready", metrics) == (HTTPStatus.OK, CONTENT_TYPE,
                                                               metrics())


def test_other_paths_and_methods_are_refused_with_what_is_served() -> None:
    missing = respond("GET", "/status", "ready", metrics)
    assert missing.status == HTTPStatus.NOT_FOUND and b"/healthz, /readyz or /metrics" in (
        missing.body)
    assert respond("POST", "/readyz", "ready", metrics).status == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.process
async def test_the_server_answers_http_clients_and_follows_the_state() -> None:
    probes = ProbeServer("127.0.0.1", 0, metrics)
    await probes.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{probes.port}",
                                     trust_env=False) as http:
            assert (await http.get("/readyz")).status_code == HTTPStatus.SERVICE_UNAVAILABLE
            probes.state = "ready"
            ready = await http.get("/readyz")
            assert ready.status_code == HTTPStatus.OK and ready.json()["ready"] is True
            scraped = await http.get("/metrics")
            assert scraped.headers["content-type"] == CONTENT_TYPE
            assert scraped.content == metrics()
            head = await http.head("/healthz")
            assert head.status_code == HTTPStatus.OK and head.content == b""
    finally:
        await probes.close()


@pytest.mark.process
async def test_a_port_in_use_is_an_error_naming_the_probe_address() -> None:
    first = ProbeServer("127.0.0.1", 0, metrics)
    await first.start()
    try:
        with pytest.raises(OSError, match=f"probes cannot listen on 127.0.0.1:{first.port}"):
            await ProbeServer("127.0.0.1", first.port, metrics).start()
    finally:
        await first.close()
