"""The framework's endpoints and console, served by an app that is not the reference app.

``web_app`` adds ``Operations`` and ``Console`` to its own API and nothing else:
health, readiness, metrics, the keyed live status view and the topology
console must all work, under a split topology so that the view has groups.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from typing import Final

import httpx
import msgspec
import pytest
import pytest_asyncio
from web_app import Door, app

from genweave import deploy
from genweave.gateway.api import Api
from genweave.gateway.auth import KeyRing
from genweave.gateway.guard import Exempt
from genweave.gateway.ops import STATUS_WINDOW, DeploymentView, Operations
from genweave.observe.summary import Totals
from genweave.topology import resolve_topology

KEY: Final = "sk-web-5e1f"
LIMITED_KEY: Final = "sk-web-limited-77"
KEYS: Final = [{"name": "web", "key": KEY},
               {"name": "limited", "key": LIMITED_KEY, "requests_per_minute": 2}]


@pytest_asyncio.fixture(scope="module", params=["inprocess", "codec"])
async def web(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The web app as microservices, an HTTP client on its door."""
    topology = msgspec.structs.replace(resolve_topology("microservices", app),
                                       settings={"Door": {"api_keys": KEYS}})
    async with deploy(app, topology, request.param) as running:
        url = await running.get(Door).url()
        async with httpx.AsyncClient(base_url=url) as client:
            yield client


def keyed(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_health_and_readiness_need_no_key(web: httpx.AsyncClient) -> None:
    assert (await web.get("/healthz")).json() == {"status": "ok"}
    ready = await web.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "waiting_for": []}


async def test_metrics_need_no_key_and_show_the_apps_calls(web: httpx.AsyncClient) -> None:
    shout = await web.post("/v1/shout", json={"text": "hi"}, headers=keyed())
    assert shout.json() == {"text": "HI"}
    metrics = await web.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'component="Voice",method="shout"' in metrics.text
    assert 'genweave_replica_ready{group="door"' in metrics.text


async def test_the_status_view_needs_a_key_but_spends_no_rate_limit(
        web: httpx.AsyncClient) -> None:
    assert (await web.get("/v1/genweave/status")).status_code == 401
    await web.post("/v1/shout", json={"text": "hi"}, headers=keyed())
    for _ in range(4):  # the limited key allows 2 requests a minute
        response = await web.get("/v1/genweave/status", headers=keyed(LIMITED_KEY))
        assert response.status_code == 200
    view = msgspec.json.decode(response.content, type=DeploymentView)
    assert (view.app, view.topology, view.ready) == ("web", "microservices", True)
    assert {g.name: g.components for g in view.groups} == {"door": ["Door"], "voice": ["Voice"]}
    assert all(r.state == "ready" for g in view.groups for r in g.replicas)
    assert any((m.component, m.method) == ("Voice", "shout") and m.calls >= 1
               for m in view.methods)


async def test_the_console_is_the_topology_view_without_app_panels(
        web: httpx.AsyncClient) -> None:
    page = await web.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-testid="status-groups"' in page.text
    assert 'data-testid="status-methods"' in page.text
    assert "chat-input" not in page.text and "/console/app/" not in page.text
    assert "<!--genweave:" not in page.text  # every slot filled or removed
    script = await web.get("/console/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert (await web.get("/console/console.css")).headers["content-type"].startswith("text/css")


async def test_the_openapi_document_lists_the_framework_endpoints(
        web: httpx.AsyncClient) -> None:
    paths = (await web.get("/openapi.json")).json()["paths"]
    assert {"/v1/shout", "/v1/genweave/status", "/healthz", "/readyz", "/metrics"} <= set(paths)
    assert "security" in paths["/v1/genweave/status"]["get"]
    assert "security" not in paths["/readyz"]["get"]


def test_rates_are_measured_over_at_least_the_window() -> None:
    operations = Operations(runtime=None)  # type: ignore[arg-type]  # the window needs none
    operations._samples = collections.deque(Totals(at, {}) for at in (10.0, 10.4, 10.9, 11.2))
    assert operations.window_start(Totals(11.3, {})) == Totals(10.0, {})
    assert operations.window_start(Totals(10.0 + 2 * STATUS_WINDOW, {})).at == 10.9
    operations._samples.clear()
    assert operations.window_start(Totals(5.0, {})) is None


def test_health_readiness_and_metrics_are_exempt_from_the_limits_on_clients() -> None:
    api = Api("probes", keys=KeyRing([]))
    Operations(runtime=None).add_to(api)  # type: ignore[arg-type]  # routes only, never called
    app = api.asgi()
    assert isinstance(app, Exempt) and app.paths == {"/healthz", "/readyz", "/metrics"}
