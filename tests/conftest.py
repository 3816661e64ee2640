"""Shared fixtures: the sample app deployed under every placement and topology preset."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from genweave import Deployment, deploy
from genweave.deploy import PLACEMENTS
from genweave.topology import PRESETS

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


@pytest.fixture
def placement(running: Deployment) -> str:
    from genweave.deploy.local import LocalDeployer

    if isinstance(running, LocalDeployer):
        return "process"
    return "codec" if getattr(running, "codec", False) else "inprocess"
