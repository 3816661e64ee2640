"""The console page and its files: the framework's view alone, or with an app's panels."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path

import httpx
import pytest_asyncio

from genweave.app.console import PANELS
from genweave.gateway.api import Api
from genweave.gateway.auth import KeyRing
from genweave.gateway.console import Console, ConsolePanels

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def client(console: Console) -> httpx.AsyncClient:
    api = Api("console test", keys=KeyRing([]))
    console.add_to(api)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api.asgi()),
                             base_url="http://console.test")


@pytest_asyncio.fixture
async def framework() -> AsyncIterator[httpx.AsyncClient]:
    async with client(Console()) as c:
        yield c


@pytest_asyncio.fixture
async def with_panels() -> AsyncIterator[httpx.AsyncClient]:
    async with client(Console(PANELS)) as c:
        yield c


async def test_the_framework_page_is_the_live_view_alone(framework: httpx.AsyncClient) -> None:
    page = await framework.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for part in ('data-testid="status-groups"', 'data-testid="status-methods"',
                 'data-testid="api-key"', '<script type="module" src="/console/console.js">'):
        assert part in page.text
    assert "main-column" not in page.text and "/console/app/" not in page.text
    assert "<!--genweave:" not in page.text


async def test_an_apps_panels_fill_their_columns_and_link_their_files(
        with_panels: httpx.AsyncClient) -> None:
    page = (await with_panels.get("/")).text
    main = page.index('<div class="column main-column">')
    side = page.index('<div class="column side-column">')
    assert main < page.index('data-testid="chat-input"') < side
    assert side < page.index('data-testid="status-groups"') < page.index('data-testid="doc-title"')
    assert '<script type="module" src="/console/app/panels.js"></script>' in page
    assert '<link rel="stylesheet" href="/console/app/panels.css">' in page
    script = await with_panels.get("/console/app/panels.js")
    assert "javascript" in script.headers["content-type"]
    assert 'from "/console/console.js"' in script.text
    assert (await with_panels.get("/console/app/panels.css")).headers[
        "content-type"].startswith("text/css")


async def test_the_frameworks_files_are_served(framework: httpx.AsyncClient) -> None:
    script = await framework.get("/console/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "export async function api(" in script.text
    style = await framework.get("/console/console.css")
    assert style.headers["content-type"].startswith("text/css")


async def test_only_the_consoles_own_files_are_served(with_panels: httpx.AsyncClient) -> None:
    for path in ("/console/panels.js", "/console/app/console.js", "/console/index.html",
                 "/console/..%2F__init__.py", "/console/__init__.py", "/console/app/main.py"):
        response = await with_panels.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found_error"


def test_panels_name_their_files() -> None:
    panels = ConsolePanels("pkg", main="m.html", scripts=("a.js", "b.js"), styles=("s.css",))
    assert panels.names() == ["m.html", "a.js", "b.js", "s.css"]


def test_every_console_file_is_package_data() -> None:
    """An installed wheel holds what an editable checkout serves."""
    declared = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    for package in ("genweave.gateway.console", "genweave.app.console"):
        patterns = declared.get(package, [])
        for resource in files(package).iterdir():
            if resource.is_file() and not resource.name.endswith(".py"):
                assert any(fnmatch.fnmatch(resource.name, p) for p in patterns), (
                    f"{package}/{resource.name} is not in [tool.setuptools.package-data]")
