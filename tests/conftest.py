"""Shared fixtures and helpers: the sample app under every placement and topology preset,
the one polling helper (``eventually``) and the one load helper (``Load``)."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast

import pytest
import pytest_asyncio

from genweave import Deployment, deploy
from genweave.deploy import PLACEMENTS
from genweave.topology import PRESETS

pytest_plugins = ("postgres_server",)
"""The storage tests' fixtures: one throwaway PostgreSQL server per session."""

SAMPLE_APP = "sample_app:app"

MATRIX = [
    pytest.param((placement, topology), id=f"{placement}-{topology}",
                 marks=[pytest.mark.process] if placement == "process" else [])
    for placement in PLACEMENTS
    for topology in PRESETS
]


@pytest_asyncio.fixture(scope="module", params=MATRIX)
async def running(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    """The sample app, deployed once per module for each (placement, topology)."""
    placement, topology = request.param
    options = {"log": lambda line: None} if placement == "process" else {}
    async with deploy(SAMPLE_APP, topology, placement, **options) as deployment:
        yield deployment


def _ray_started() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


@pytest.fixture(autouse=True)
def _ray_only_where_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that starts Ray unless it is marked ``ray`` (Ray's own unit tests do so)."""
    before = _ray_started()
    yield
    if not before and _ray_started() and request.node.get_closest_marker("ray") is None:
        pytest.fail("this test started Ray but is not marked @pytest.mark.ray; unit tests run "
                    "without it (tests/deploy/ray runs the Ray placement)")


@pytest.fixture
def placement(running: Deployment) -> str:
    from genweave.deploy.local import LocalDeployer

    if isinstance(running, LocalDeployer):
        return "process"
    return "codec" if getattr(running, "codec", False) else "inprocess"


T = TypeVar("T")


async def eventually(condition: Callable[[], T | Awaitable[T]], timeout: float = 10.0,
                     interval: float = 0.02, what: str = "") -> T:
    """Poll ``condition`` (plain or async) until it returns something truthy; return that.

    The one way tests wait for something to happen: never a fixed sleep. Fails with
    the condition's name (or ``what``) and its last value once ``timeout`` passes.
    """
    value: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return cast(T, value)
                await asyncio.sleep(interval)
    except TimeoutError:
        name = what or getattr(condition, "__qualname__", repr(condition))
        raise AssertionError(f"{name} did not hold within {timeout}s "
                             f"(last value: {value!r})") from None


class Load:
    """``callers`` tasks repeating ``call`` until stopped; every result and failure is kept.

    The one load helper of the suite::

        load = Load(lambda: model.sleep_pid(0.02), callers=8)
        await load.progress(20)          # 20 more calls have finished (no fixed sleep)
        results = await load.stop()
        assert not load.failures
    """

    def __init__(self, call: Callable[[], Awaitable[Any]], callers: int) -> None:
        self.results: list[Any] = []
        self.failures: list[BaseException] = []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._run(call)) for _ in range(callers)]

    async def _run(self, call: Callable[[], Awaitable[Any]]) -> None:
        while not self._stop.is_set():
            try:
                self.results.append(await call())
            except Exception as exc:
                self.failures.append(exc)

    @property
    def finished(self) -> int:
        """Calls finished so far, failed or not."""
        return len(self.results) + len(self.failures)

    async def progress(self, calls: int, timeout: float = 20.0) -> None:
        """Wait until ``calls`` more calls have finished than when this was called."""
        target = self.finished + calls
        await eventually(lambda: self.finished >= target, timeout,
                         what=f"{calls} more calls finishing")

    async def stop(self) -> list[Any]:
        """Stop the callers (each finishes its call in flight) and return the results."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.results
