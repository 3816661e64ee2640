"""The cross-process behaviour suite (tests/test_behaviour.py) on a two-node Ray cluster.

Each group is a Ray actor; ``front`` is pinned to one node and ``model`` to the
other, so every Front -> Model call crosses nodes over genweave's TCP transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from genweave import Deployment, deploy
from genweave.deploy.ray import RayDeployer
from test_behaviour import *  # noqa: F403  (the suite's tests, collected here under Ray)

pytestmark = pytest.mark.ray

@pytest_asyncio.fixture(scope="module")
async def running(ray_cluster: Any) -> AsyncIterator[Deployment]:
    """The sample app's microservices preset on Ray, front and model on distinct nodes."""
    pinned = {"front": {ray_cluster.a: 1}, "model": {ray_cluster.b: 1}}
    async with deploy("sample_app:app", "microservices", "ray", resources=pinned,
                      log=lambda line: None) as deployment:
        yield deployment


@pytest.fixture
def placement() -> str:
    return "ray"


def test_front_and_model_run_on_distinct_nodes(running: Deployment) -> None:
    assert isinstance(running, RayDeployer)
    front, model = running.replicas["front"][0], running.replicas["model"][0]
    assert front.node is not None and model.node is not None and front.node != model.node
    assert front.pid != model.pid
