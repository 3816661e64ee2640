"""The reference app's chat on a two-node Ray cluster: documents ingested, a question
answered as a stream with citations, every group a Ray actor (hybrid preset)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from reference_app import app_topology

from genweave import Deployment, deploy
from genweave.app.assistant import Assistant
from genweave.app.ingestor import Ingestor
from genweave.app.types import ChatMessage, ChatRequest, DocumentIn
from genweave.deploy.ray import RayDeployer

pytestmark = [pytest.mark.ray, pytest.mark.slow]

GENERATORS = DocumentIn(
    "Generators", "# Generators\n\nA generator function contains a yield statement. Calling it "
    "returns a generator iterator; each next() resumes the function until the next yield.",
    "text/markdown")


@pytest_asyncio.fixture(scope="module")
async def running(ray_cluster: Any,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    """Hybrid preset: core on node a, the models' groups on node b."""
    topology = app_topology("hybrid", tmp_path_factory.mktemp("data"))
    pinned = {"core": {ray_cluster.a: 1}, "generator": {ray_cluster.b: 1},
              "embedder": {ray_cluster.b: 1}}
    async with deploy("genweave.app:app", topology, "ray", resources=pinned,
                      log=lambda line: None, start_timeout=120.0) as deployment:
        ingestor = deployment.get(Ingestor)
        job = await ingestor.submit(GENERATORS)
        async for status in ingestor.watch(job.id):
            assert status.state != "failed", status.error
        yield deployment


async def test_a_question_is_answered_as_a_stream_citing_the_ingested_document(
    running: Deployment,
) -> None:
    assert isinstance(running, RayDeployer)
    assert running.replicas["core"][0].node != running.replicas["generator"][0].node
    request = ChatRequest([ChatMessage("user", "What does the yield statement do?")],
                          max_tokens=24, seed=7)
    events = [e async for e in running.get(Assistant).chat(request)]
    kinds = [e.type for e in events]
    assert kinds[-1] == "done" and kinds.count("delta") >= 2 and "citations" in kinds
    citations = next(e for e in events if e.type == "citations").citations
    assert citations[0].document == "upload:generators"
    assert events[-1].usage is not None and events[-1].usage.completion_tokens > 0
