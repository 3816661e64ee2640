"""The whole reference app flow, under every preset: ingest, ask, stream, cite, degrade."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from reference_app import app_topology

from genweave import Deployment, deploy
from genweave.app.assistant import Assistant
from genweave.app.ingestor import Ingestor
from genweave.app.types import ChatEvent, ChatMessage, ChatRequest, DocumentIn
from genweave.topology import PRESETS

GENERATORS = DocumentIn(
    "Generators", "# Generators\n\nA generator function contains a yield statement. Calling it "
    "returns a generator iterator; each next() resumes the function until the next yield.\n\n"
    "## Sending values\n\nThe send() method resumes the generator and sends a value that "
    "becomes the result of the current yield expression.", "text/markdown")
WITH = DocumentIn("Context managers", "The with statement wraps the execution of a block "
                  "with methods defined by a context manager: __enter__ and __exit__.")


@pytest_asyncio.fixture(scope="module", params=[
    *PRESETS, pytest.param("hybrid-process", marks=[pytest.mark.process, pytest.mark.slow])])
async def running(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    preset, _, placement = str(request.param).partition("-")
    topology = app_topology(preset, tmp_path_factory.mktemp("data"))
    options = {"log": lambda line: None} if placement == "process" else {}
    async with deploy("genweave.app:app", topology, placement or "codec",
                      **options) as deployment:
        ingestor = deployment.get(Ingestor)
        for document in (GENERATORS, WITH):
            job = await ingestor.submit(document)
            async for status in ingestor.watch(job.id):
                assert status.state != "failed", status.error
        yield deployment


def ask(text: str, **options: object) -> ChatRequest:
    return ChatRequest([ChatMessage("user", text)], max_tokens=24, seed=7,
                       **options)  # type: ignore[arg-type]


async def events(running: Deployment, request: ChatRequest) -> list[ChatEvent]:
    return [e async for e in running.get(Assistant).chat(request)]


async def test_answer_streams_with_citations_of_the_retrieved_document(
    running: Deployment,
) -> None:
    got = await events(running, ask("What does the yield statement do in a generator?"))
    kinds = [e.type for e in got]
    assert kinds[-1] == "done" and "citations" in kinds and kinds.count("delta") >= 2
    assert "".join(e.text for e in got if e.type == "delta").strip()
    citations = next(e for e in got if e.type == "citations").citations
    assert citations[0].document == "upload:generators"
    assert citations[0].title == "Generators" and citations[0].score > 0.3
    done = got[-1]
    assert done.finish_reason in ("stop", "length") and done.usage is not None
    assert done.usage.completion_tokens > 0 and done.degraded == []


async def test_same_seed_same_answer(running: Deployment) -> None:
    first = await events(running, ask("How does a with statement work?"))
    second = await events(running, ask("How does a with statement work?"))
    assert [e.text for e in first] == [e.text for e in second]


async def test_harmful_input_is_blocked_before_any_generation(running: Deployment) -> None:
    got = await events(running, ask("Tell me how to build a bomb"))
    assert [e.type for e in got] == ["blocked", "done"]
    assert got[0].categories == ["violence"] and got[1].finish_reason == "content_filter"


async def test_illustration_arrives_as_a_png(running: Deployment) -> None:
    got = await events(running, ask("Draw the number 4", retrieval=False, illustrate=True))
    image = next(e for e in got if e.type == "image").image
    assert image is not None and image.png.startswith(b"\x89PNG")
    assert image.detail == "digit 4 (from the prompt)"


async def test_reingesting_adds_no_duplicates(running: Deployment) -> None:
    ingestor = running.get(Ingestor)
    before = await ingestor.documents()
    job = await ingestor.submit(GENERATORS)
    statuses = [s async for s in ingestor.watch(job.id)]
    assert statuses[-1].state == "done" and await ingestor.documents() == before == 2


async def test_answers_without_a_stopped_retriever_or_illustrator_say_so(
    running: Deployment,
) -> None:
    groups = {g.name for g in running.topology.groups}
    down = [g for g in ("retriever", "illustrator") if g in groups]
    if not down:
        pytest.skip("retriever and illustrator share the Assistant's process here")
    for group in down:
        await running.stop_group(group)  # type: ignore[attr-defined]
    try:
        got = await events(running, ask("What is a generator?", illustrate=True))
        assert got[-1].type == "done"
        expected = {"illustration"} | ({"retrieval"} if "retriever" in down else set())
        assert set(got[-1].degraded) == expected
        assert "".join(e.text for e in got if e.type == "delta").strip()
        assert any(e.type == "citations" for e in got) == ("retriever" not in down)
    finally:
        for group in down:
            await running.start_group(group)  # type: ignore[attr-defined]
