"""Ingestion: chunk, embed, store; idempotent, replaceable, and resumable after a SIGKILL.

Every test runs on SQLite and on PostgreSQL (the ``backend`` fixture).  Run as a
script, this file is the worker that the crash test kills.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pytest

from genweave.app.chunking import Chunker
from genweave.app.extract import Document
from genweave.app.ingest import EmbedFunction, IngestPipeline, IngestProgress, IngestResult
from genweave.app.store import StoreError, VectorStore
from genweave.jobs import JobQueue, JobState
from genweave.models.embedding import Embeddings, Encoder

if TYPE_CHECKING:  # run as a script, this file has no tests/ on its path
    from postgres_server import Backend

LEASE = 1.0
BATCH = 4
CHUNKER = Chunker(max_size=200, overlap=20, min_size=0)
DOCUMENT = Document("guide", "Guide", "\n\n".join(
    f"Paragraph {i} explains topic number {i} of the guide in a few plain words, "
    f"with enough detail to fill a small chunk about item {i}." for i in range(24)
))


class HashingEncoder(Encoder):
    """Bag-of-words vectors: deterministic in every process, and records what it encodes."""

    name, dimension, max_tokens = "hashing", 512, 512

    def __init__(self, stall_after: int | None = None) -> None:
        self.texts: list[str] = []
        self.calls = 0
        self.stall_after = stall_after

    def encode(self, texts: Sequence[str]) -> Embeddings:
        if self.stall_after is not None and self.calls == self.stall_after:
            print("stalled", flush=True)  # the crash test kills us now
            time.sleep(60)
        self.calls += 1
        self.texts.extend(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, zlib.crc32(word.encode()) % self.dimension] += 1
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]


def _ingestor(location: str, encoder: Encoder,
              clock: Callable[[], float] = time.time) -> IngestPipeline:
    store = VectorStore(location, model=encoder.name)
    jobs = JobQueue(store.location.companion(".jobs"), clock=clock)
    return IngestPipeline.local(store, encoder, jobs=jobs, chunker=CHUNKER, batch_size=BATCH,
                                lease=LEASE)


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture
def ingestor(backend: Backend, encoder: HashingEncoder) -> Iterator[IngestPipeline]:
    ingestor = _ingestor(backend.location("index"), encoder)
    with ingestor.store, ingestor.jobs:
        yield ingestor


async def test_a_document_is_chunked_embedded_and_searchable(
    ingestor: IngestPipeline, encoder: HashingEncoder
) -> None:
    seen: list[IngestProgress] = []
    result = await ingestor.ingest(DOCUMENT, progress=seen.append)
    chunks = CHUNKER.chunk(DOCUMENT)
    assert (result.chunks, result.embedded, result.resumed, result.changed) == (
        len(chunks), len(chunks), 0, True)
    assert encoder.texts == [c.embedding_text() for c in chunks]
    assert [p.done for p in seen] == [*range(0, len(chunks), BATCH), len(chunks)]
    assert ingestor.store.chunks("guide") == chunks
    hits = ingestor.store.search(encoder.encode(["paragraph 17 number 17 item 17."])[0], k=1)
    assert "topic number 17" in hits[0].text
    job = ingestor.jobs.get(result.job)
    assert job.state is JobState.DONE and job.progress.done == len(chunks)


async def test_ingesting_the_same_document_again_adds_nothing(
    ingestor: IngestPipeline, encoder: HashingEncoder
) -> None:
    await ingestor.ingest(DOCUMENT)
    calls, stats = encoder.calls, ingestor.store.stats()
    again = await ingestor.ingest(DOCUMENT)
    assert (again.changed, again.embedded, again.chunks) == (False, 0, stats.chunks)
    assert encoder.calls == calls and ingestor.store.stats() == stats


async def test_a_changed_document_replaces_the_old_version(ingestor: IngestPipeline) -> None:
    await ingestor.ingest(DOCUMENT)
    new = Document("guide", "Guide", "A completely rewritten guide about one thing only.")
    result = await ingestor.ingest(new)
    assert result.changed and result.chunks == 1
    assert [c.text for c in ingestor.store.chunks("guide")] == [new.text]
    assert ingestor.store.stats().chunks == 1
    back = await ingestor.ingest(DOCUMENT)  # its old job is done, but no longer stored
    assert back.changed and ingestor.store.chunks("guide") == CHUNKER.chunk(DOCUMENT)
    ingestor.store.delete_document("guide")
    assert ingestor.submit(DOCUMENT).state is JobState.QUEUED


async def test_a_corpus_is_ingested_once(ingestor: IngestPipeline, encoder: HashingEncoder) -> None:
    corpus = [Document(f"d{i}", f"Doc {i}", f"Document {i} talks about subject {i}. " * 12)
              for i in range(6)]
    report = await ingestor.ingest_corpus(corpus, concurrency=3)
    assert (report.documents, report.changed, report.failed) == (6, 6, {})
    assert report.embedded == report.chunks == ingestor.store.stats().chunks
    calls = encoder.calls
    again = await ingestor.ingest_corpus(corpus)
    assert (again.documents, again.embedded, again.changed) == (6, 0, 0)
    assert encoder.calls == calls


async def test_a_failed_ingestion_is_recorded_and_retried(backend: Backend) -> None:
    async def broken(texts: list[str]) -> Embeddings:
        raise ConnectionError("embedder unreachable")

    store = VectorStore(backend.location("index"))
    jobs = JobQueue(backend.location("jobs"))
    failing = IngestPipeline(store, broken, jobs=jobs, chunker=CHUNKER)
    with pytest.raises(ConnectionError):
        await failing.ingest(DOCUMENT)
    (job,) = jobs.jobs()
    assert job.state is JobState.FAILED and job.error == "ConnectionError: embedder unreachable"
    report = await failing.ingest_corpus([DOCUMENT])
    assert report.failed == {"guide": "ConnectionError: embedder unreachable"}

    working = IngestPipeline(store, _async(HashingEncoder()), jobs=jobs, chunker=CHUNKER)
    assert (await working.ingest(DOCUMENT)).changed
    assert jobs.get(job.id).state is JobState.DONE
    store.close()
    jobs.close()


async def test_a_cancelled_ingestion_keeps_its_chunks_and_resumes(backend: Backend) -> None:
    gate, third_batch, encoder = asyncio.Event(), asyncio.Event(), HashingEncoder()
    calls = 0

    async def embed(texts: list[str]) -> Embeddings:
        nonlocal calls
        calls += 1
        if calls == 3:
            third_batch.set()
            await gate.wait()  # cancelled here, after two batches were stored
        return encoder.encode(texts)

    store = VectorStore(backend.location("index"))
    first = IngestPipeline(store, embed, chunker=CHUNKER, batch_size=BATCH)
    task = asyncio.create_task(first.ingest(DOCUMENT))
    async with asyncio.timeout(10):
        await third_batch.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.stats().staged == 2 * BATCH
    assert first.jobs.jobs()[0].state is JobState.QUEUED  # released, not lost

    second_encoder = HashingEncoder()
    second = IngestPipeline.local(store, second_encoder, jobs=first.jobs, chunker=CHUNKER)
    result = await second.ingest(DOCUMENT)
    total = len(CHUNKER.chunk(DOCUMENT))
    assert (result.resumed, result.embedded) == (2 * BATCH, total - 2 * BATCH)
    assert len(second_encoder.texts) == total - 2 * BATCH
    assert store.stats().chunks == total and store.stats().staged == 0
    first.jobs.close()
    store.close()


async def test_a_background_worker_runs_submitted_documents(ingestor: IngestPipeline) -> None:
    worker = asyncio.create_task(ingestor.work(poll=0.01))
    job = ingestor.submit(DOCUMENT)
    assert job.state is JobState.QUEUED
    done = await ingestor.jobs.wait(job.id, timeout=10)
    assert done.decode_result(IngestResult).chunks == ingestor.store.stats().chunks > 0
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker


async def test_concurrent_ingestions_of_one_document_do_the_work_once(
    ingestor: IngestPipeline, encoder: HashingEncoder
) -> None:
    results = await asyncio.gather(*(ingestor.ingest(DOCUMENT) for _ in range(3)))
    assert len({r.job for r in results}) == 1
    assert len(encoder.texts) == len(CHUNKER.chunk(DOCUMENT))


async def test_the_version_follows_content_and_chunking(backend: Backend) -> None:
    store = VectorStore(backend.location("index"))
    a = IngestPipeline(store, _async(HashingEncoder()), chunker=Chunker(max_size=300))
    b = IngestPipeline(store, _async(HashingEncoder()), chunker=Chunker(max_size=400))
    assert a.version(DOCUMENT) == a.version(Document("guide", "Guide", DOCUMENT.text))
    assert a.version(DOCUMENT) != b.version(DOCUMENT)
    assert (await a.ingest(DOCUMENT)).changed and (await b.ingest(DOCUMENT)).changed
    assert await a.resume() == []
    for closing in (a.jobs, b.jobs, store):
        closing.close()


def test_a_store_of_another_model_is_refused(backend: Backend) -> None:
    with VectorStore(backend.location("index"), model="all-MiniLM-L6-v2") as store, \
            pytest.raises(StoreError, match="holds vectors of 'all-MiniLM-L6-v2', not 'hashing'"):
        IngestPipeline.local(store, HashingEncoder())


@pytest.mark.process
async def test_an_ingestion_killed_mid_document_resumes_without_redoing_work(
    backend: Backend, encoder: HashingEncoder
) -> None:
    location = backend.location("index")
    worker = subprocess.Popen([sys.executable, __file__, location],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 30)
        assert line == "stalled\n"
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        worker.kill()
        if worker.stdout is not None:
            worker.stdout.close()

    ahead = 0.0  # seconds this process's clock runs ahead of the real one
    ingestor = _ingestor(location, encoder, clock=lambda: time.time() + ahead)
    chunks = CHUNKER.chunk(DOCUMENT)
    assert ingestor.store.stats().staged == 2 * BATCH  # two batches were stored before the kill
    assert ingestor.jobs.jobs()[0].state is JobState.RUNNING  # and its worker is gone
    assert await ingestor.resume() == []  # the lease has not run out yet
    ahead = LEASE  # now it has
    (result,) = await ingestor.resume()
    assert (result.resumed, result.embedded, result.changed) == (
        2 * BATCH, len(chunks) - 2 * BATCH, True)
    assert encoder.texts == [c.embedding_text() for c in chunks[2 * BATCH :]]
    stats = ingestor.store.stats()
    assert (stats.chunks, stats.staged) == (len(chunks), 0)
    assert ingestor.store.chunks("guide") == chunks
    job = ingestor.jobs.get(result.job)
    assert (job.state, job.attempts) == (JobState.DONE, 2)
    ingestor.jobs.close()
    ingestor.store.close()


def _async(encoder: Encoder) -> EmbedFunction:
    async def embed(texts: list[str]) -> Embeddings:
        return encoder.encode(texts)

    return embed


def _crashing_worker(location: str) -> None:
    """Ingests DOCUMENT with an encoder that stalls on its third batch, until killed."""
    ingestor = _ingestor(location, HashingEncoder(stall_after=2))
    asyncio.run(ingestor.ingest(DOCUMENT))


if __name__ == "__main__":
    _crashing_worker(sys.argv[1])
