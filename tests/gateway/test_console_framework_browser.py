"""The framework's console alone, in headless Chromium, served by an app that is not
the reference app (``web_app``): the topology, replicas and methods of any app.

The tests share one page and run in file order.  Screenshots go under
``test-artifacts/console-framework/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import httpx
import msgspec
import pytest
import pytest_asyncio
from browser import ARTIFACTS, chromium, skip_reason
from web_app import Door, app

from genweave import deploy
from genweave.topology import resolve_topology

if TYPE_CHECKING:
    from playwright.async_api import Page

SKIP: Final = skip_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

KEY: Final = "sk-console-web"
SHOTS: Final = ARTIFACTS / "console-framework"
STEP_TIMEOUT_MS: Final = 30_000
PHONE: Final = {"width": 400, "height": 860}

SHOUT_COUNTED: Final = """() => {
  const row = document.querySelector("[data-testid=method-row][data-method='Voice.shout']");
  return row !== null && Number(row.cells[4].textContent) >= 1;
}"""


@pytest_asyncio.fixture(scope="module")
async def web_url() -> AsyncIterator[str]:
    """The web app as microservices in this process, its door on a free port."""
    topology = msgspec.structs.replace(resolve_topology("microservices", app), settings={
        "Door": {"api_keys": [{"name": "console", "key": KEY}]}})
    async with deploy(app, topology, "inprocess") as running:
        yield await running.get(Door).url()


@pytest_asyncio.fixture(scope="module")
async def page(web_url: str) -> AsyncIterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(web_url)
        yield page
        await context.close()
        assert not errors, f"the console threw: {errors}"


async def test_readiness_shows_before_a_key_is_entered(page: Page) -> None:
    ready = page.get_by_test_id("status-ready")
    await ready.and_(page.locator("[data-ready=true]")).wait_for()  # /readyz needs no key
    error = page.get_by_test_id("status-error")
    await error.wait_for()
    assert "Missing API key" in (await error.text_content() or "")


async def test_with_the_key_every_group_and_replica_is_shown(page: Page) -> None:
    await page.get_by_test_id("api-key").fill(KEY)
    await page.locator("[data-testid=group][data-group=voice]").wait_for()
    groups = page.get_by_test_id("group")
    assert sorted(await groups.evaluate_all("gs => gs.map(g => g.dataset.group)")) == [
        "door", "voice"]
    assert await page.get_by_test_id("status-app").text_content() == "web"
    assert await page.get_by_test_id("status-error").is_hidden()
    replicas = page.get_by_test_id("replica")
    assert await replicas.count() == 2
    assert set(await replicas.evaluate_all("rs => rs.map(r => r.dataset.state)")) == {"ready"}
    await page.screenshot(path=SHOTS / "1-topology.png", full_page=True)


async def test_the_apps_traffic_appears_in_the_methods_view(page: Page, web_url: str) -> None:
    async with httpx.AsyncClient(base_url=web_url) as client:
        response = await client.post("/v1/shout", json={"text": "hello"},
                                     headers={"Authorization": f"Bearer {KEY}"})
    assert response.json() == {"text": "HELLO"}
    await page.wait_for_function(SHOUT_COUNTED)
    await page.screenshot(path=SHOTS / "2-methods.png", full_page=True)


async def test_no_app_panels_and_the_view_takes_the_width(page: Page) -> None:
    for panel in ("chat-input", "image-prompt", "doc-title"):
        assert await page.get_by_test_id(panel).count() == 0
    layout = await page.locator(".layout").bounding_box()
    view = await page.locator(".side-column").bounding_box()
    assert layout is not None and view is not None
    assert view["width"] > 0.8 * layout["width"]


async def test_the_page_fits_a_narrow_screen(page: Page) -> None:
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=SHOTS / "3-narrow.png", full_page=True)
