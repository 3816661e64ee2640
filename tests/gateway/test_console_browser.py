"""The web console, driven by headless Chromium against the real reference app.

One walk through the page as a person would use it: the topology view fills in,
a missing API key is reported, then with the key a document is ingested with a
progress bar, a chat answer streams in with its sources, an image is drawn, and
the page still fits a phone's width.  The tests share one page and run in file
order.  A screenshot of each step is saved under ``test-artifacts/console/``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
import pytest
import pytest_asyncio
from browser import ARTIFACTS, chromium, skip_reason

import genweave
from genweave.application import load_app
from genweave.topology import resolve_topology

if TYPE_CHECKING:
    from playwright.async_api import Page

SKIP: Final = skip_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

APP: Final = "genweave.app:app"
KEY: Final = "sk-console-test"
SHOTS: Final = ARTIFACTS / "console"
STEP_TIMEOUT_MS: Final = 30_000
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
PHONE: Final = {"width": 400, "height": 860}

DOCUMENT: Final = """\
The walrus operator

An assignment expression, written NAME := expression, assigns a value to a name and
returns that value, so it can be used inside a larger expression such as the condition
of a while loop or an if statement.

Assignment expressions were added to Python in version 3.8 by PEP 572. They are often
called the walrus operator because := looks like the eyes and tusks of a walrus.

A typical use is reading chunks until the input is exhausted:
while (chunk := stream.read(4096)):
    process(chunk)
"""

# Records the last answer's text length and state at every change of the chat log,
# so the test sees whether text arrived before the end of the stream.
TRACE_ANSWER: Final = """() => {
  window.__answerTrace = [];
  const log = document.getElementById("chat-log");
  new MutationObserver(() => {
    const answers = log.querySelectorAll("[data-testid=assistant-message]");
    const last = answers[answers.length - 1];
    if (!last) return;
    const text = last.querySelector(".message-text").textContent;
    window.__answerTrace.push({length: text.length, state: last.dataset.state});
  }).observe(log, {subtree: true, childList: true, characterData: true, attributes: true});
}"""

CHAT_COUNTED: Final = """() => {
  const row = document.querySelector("[data-testid=method-row][data-method='Assistant.chat']");
  return row !== null && Number(row.cells[4].textContent) >= 1;
}"""


@pytest_asyncio.fixture(scope="module")
async def console_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The reference app, monolith in this process, its gateway on a free port."""
    from genweave.app.gateway import Gateway

    data = tmp_path_factory.mktemp("console-data")
    app = load_app(APP)
    topology = msgspec.structs.replace(resolve_topology("monolith", app), settings={
        "Gateway": {"port": 0, "api_keys": [{"name": "console", "key": KEY}]},
        **data_settings(data),
    })
    async with genweave.deploy(app, topology, "inprocess") as running:
        yield await running.get(Gateway).url()


def data_settings(data: Path) -> dict[str, dict[str, Any]]:
    """The store under tmp_path, and empty: the test's document is all it holds."""
    return {"Ingestor": {"data_dir": str(data), "ingest_corpus_on_start": False},
            "Retriever": {"data_dir": str(data)}}


@pytest_asyncio.fixture(scope="module")
async def page(console_url: str) -> AsyncIterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(console_url)
        yield page
        await context.close()
        assert not errors, f"the console threw: {errors}"


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


async def test_a_missing_key_shows_the_api_error(page: Page) -> None:
    await page.get_by_test_id("image-prompt").fill("a red circle")
    await page.get_by_test_id("image-generate").click()
    error = page.get_by_test_id("image-error")
    await error.wait_for()
    assert "Missing API key" in (await error.text_content() or "")
    await shot(page, "2-missing-key")


async def test_topology_view_needs_the_key_then_lists_groups_and_replicas(page: Page) -> None:
    ready = page.get_by_test_id("status-ready")
    await ready.and_(page.locator("[data-ready=true]")).wait_for()  # /readyz needs no key
    error = page.get_by_test_id("status-error")
    await error.wait_for()
    assert "Missing API key" in (await error.text_content() or "")
    await page.get_by_test_id("api-key").fill(KEY)
    await page.get_by_test_id("group").first.wait_for()
    assert await ready.text_content() == "ready"
    group = page.get_by_test_id("group")
    assert await group.count() == 1  # monolith
    assert await group.get_attribute("data-group") == "main"
    chips = await group.locator(".chip").all_text_contents()
    assert {"Assistant", "Gateway", "Generator", "Ingestor"} <= set(chips)
    replica = page.get_by_test_id("replica")
    assert await replica.count() >= 1
    assert await replica.first.get_attribute("data-state") == "ready"
    await shot(page, "1-topology")


async def test_document_upload_reports_progress_until_done(page: Page) -> None:
    assert await page.evaluate("localStorage.getItem('genweave.apiKey')") == KEY
    await page.get_by_test_id("doc-title").fill("The walrus operator")
    await page.get_by_test_id("doc-text").fill(DOCUMENT)
    await page.get_by_test_id("doc-submit").click()
    job = page.get_by_test_id("job").first
    await job.and_(page.locator("[data-state=done]")).wait_for()
    progress = job.get_by_test_id("job-progress")
    assert await progress.get_attribute("aria-valuenow") == "100"
    assert "chunks" in (await job.text_content() or "")
    # The bar's width slides into place: the picture waits for its transition to end.
    await progress.locator(".progress-fill").evaluate(
        "fill => Promise.all(fill.getAnimations().map(a => a.finished))")
    await shot(page, "3-document")


async def test_chat_streams_an_answer_with_sources(page: Page) -> None:
    await page.evaluate(TRACE_ANSWER)
    await page.get_by_test_id("chat-input").fill("What does the walrus operator := do?")
    await page.get_by_test_id("chat-illustrate").check()
    await page.get_by_test_id("chat-send").click()
    answer = page.get_by_test_id("assistant-message").last
    await answer.and_(page.locator("[data-state=done]")).wait_for()
    # The demo model's answer may be mostly whitespace; that it arrived is what counts.
    assert await answer.locator(".message-text").text_content()
    trace = await page.evaluate("window.__answerTrace")
    streamed = {step["length"] for step in trace if step["state"] == "streaming"}
    assert len(streamed - {0}) >= 2, f"the answer did not arrive in pieces: {trace}"
    assert await answer.get_by_test_id("citation").count() >= 1
    titles = await answer.locator(".cite-title").all_text_contents()
    assert "The walrus operator" in titles
    assert await answer.get_by_test_id("chat-error").count() == 0
    illustration = await answer.get_by_test_id("chat-image").get_attribute("src") or ""
    assert illustration.startswith("data:image/png;base64,")
    await shot(page, "4-chat")


async def test_image_generation_shows_a_png(page: Page) -> None:
    await page.get_by_test_id("chat-illustrate").uncheck()
    await page.get_by_test_id("image-prompt").fill("a red circle on a blue background")
    await page.get_by_test_id("image-generate").click()
    image = page.get_by_test_id("image-result")
    await image.wait_for()
    src = await image.get_attribute("src") or ""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    assert base64.b64decode(src[len(prefix):]).startswith(PNG_SIGNATURE)
    assert await image.evaluate("img => img.naturalWidth") == 256
    assert await page.get_by_test_id("image-error").is_hidden()
    await shot(page, "5-image")


async def test_topology_view_shows_the_traffic(page: Page) -> None:
    # A streamed call counts once it has ended: a later refresh of the view shows it.
    await page.wait_for_function(CHAT_COUNTED)
    busy = await page.get_by_test_id("method-row").count()
    await page.get_by_test_id("status-show-idle").check()
    await page.locator("#status-methods .idle-note").wait_for(state="detached")
    assert await page.get_by_test_id("method-row").count() > busy
    await page.get_by_test_id("status-show-idle").uncheck()
    await shot(page, "6-traffic")


async def test_the_page_fits_a_narrow_screen(page: Page) -> None:
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shot(page, "7-narrow")
