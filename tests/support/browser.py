"""Headless Chromium for tests that look at a page, through Playwright's async API.

Playwright drives Debian's ``/usr/bin/chromium``: its own browser download is
never used (it cannot be fetched here).  ``scripts/install-browser`` installs
both; a test calls ``skip_reason()`` first and skips, saying so, when either is
missing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from playwright.async_api import Browser

__all__ = ["ARTIFACTS", "CHROMIUM", "chromium", "skip_reason"]

CHROMIUM: Final = Path("/usr/bin/chromium")
ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS: Final = Path(__file__).resolve().parents[2] / "test-artifacts"


def skip_reason() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (Debian's chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the Python package playwright")
    if not missing:
        return None
    return f"browser test needs {' and '.join(missing)}: run scripts/install-browser"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed (with its driver) when the block ends."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()
