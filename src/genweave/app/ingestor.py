"""The Ingestor: documents become searchable passages, through durable jobs.

Every document is a job in the durable queue that lives with the store
(beside its SQLite file, or in its PostgreSQL database); a job is done only
once its chunks are published, so a crash loses nothing acknowledged, and the
next start, or another replica once the job's lease runs out, resumes what was
interrupted.  On first start the reference
app's corpus (Python's reference documentation) is ingested in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Final

import numpy as np

from genweave.app.corpus import pydoc_corpus
from genweave.app.embedder import Embedder
from genweave.app.extract import Document
from genweave.app.ingest import DEFAULT_LEASE, IngestPipeline, IngestProgress
from genweave.app.retriever import StoreSettings
from genweave.app.store import VectorStore
from genweave.app.types import DocumentIn, JobStatus
from genweave.component import Ref, component, method
from genweave.jobs import FINISHED, Job, JobNotFound, JobState

__all__ = ["CORPUS_JOB", "Ingestor", "IngestorSettings"]

logger = logging.getLogger("genweave.app.ingestor")

CORPUS_JOB: Final = "corpus"
IDLE_POLL: Final = 1.0
"""Seconds between looks for jobs queued by other replicas or left by a crash."""
WATCH_POLL: Final = 0.25


class IngestorSettings(StoreSettings, frozen=True):
    ingest_corpus_on_start: bool = True
    batch_size: int = 32
    concurrency: int = 2
    lease: float = DEFAULT_LEASE
    """Seconds without progress after which another replica takes a job over; it must
    outlast the embedding of one batch."""


@component(config=IngestorSettings)
class Ingestor:
    """Accepts documents, runs their jobs in the background, reports progress."""

    config: IngestorSettings
    embedder: Ref[Embedder]

    async def on_start(self) -> None:
        self._store = VectorStore(self.config.store_location)
        self._pipeline = IngestPipeline(self._store, self._embed, batch_size=self.config.batch_size,
                                        lease=self.config.lease)
        self._wake = asyncio.Event()
        self._corpus = JobStatus(CORPUS_JOB, CORPUS_JOB, JobState.DONE,
                                 message="not requested")
        self._tasks = [asyncio.create_task(self._work())]
        if self.config.ingest_corpus_on_start:
            self._tasks.append(asyncio.create_task(self._ingest_corpus()))

    async def on_stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pipeline.jobs.close()
        self._store.close()

    async def _embed(self, texts: list[str]) -> np.ndarray:
        return (await self.embedder.embed(texts)).vectors

    async def submit(self, document: DocumentIn) -> JobStatus:
        """Queue a document; ingesting the same content again adds nothing."""
        doc = Document(document.id or _document_id(document.title), document.title,
                       document.text, document.media_type, document.source)
        job = self._pipeline.submit(doc)
        self._wake.set()
        return _status(job)

    @method(idempotent=True)
    async def job(self, job_id: str) -> JobStatus:
        if job_id == CORPUS_JOB:
            return self._corpus
        try:
            return _status(self._pipeline.jobs.get(job_id))
        except JobNotFound:
            raise LookupError(f"no ingestion job {job_id!r}") from None

    async def watch(self, job_id: str) -> AsyncIterator[JobStatus]:
        """The job's status each time it changes, until it is done or failed."""
        last = None
        while True:
            status = await self.job(job_id)
            if status != last:
                yield status
                last = status
            if status.state in FINISHED:
                return
            await asyncio.sleep(WATCH_POLL)

    @method(idempotent=True)
    async def documents(self) -> int:
        return (await asyncio.to_thread(self._store.stats)).documents

    async def _work(self) -> None:
        """Run queued jobs and those whose worker died, now and whenever woken."""
        while True:
            try:
                await self._pipeline.resume()
            except Exception:
                logger.exception("ingestion worker failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL):
                    await self._wake.wait()

    async def _ingest_corpus(self) -> None:
        corpus = await asyncio.to_thread(pydoc_corpus)
        stored = {d.id for d in corpus
                  if self._store.has_version(d.id, self._pipeline.version(d))}
        finished = set(stored)
        total = len(corpus)
        self._corpus = JobStatus(CORPUS_JOB, CORPUS_JOB, JobState.RUNNING, len(finished), total,
                                 "Python reference documentation")

        def progress(update: IngestProgress) -> None:
            if update.done >= update.total:
                finished.add(update.document_id)
            self._corpus = JobStatus(CORPUS_JOB, CORPUS_JOB, JobState.RUNNING, len(finished), total,
                                     f"{update.document_id}: {update.done}/{update.total} chunks")

        report = await self._pipeline.ingest_corpus(
            [d for d in corpus if d.id not in stored], progress,
            concurrency=self.config.concurrency)
        state = JobState.FAILED if report.failed else JobState.DONE
        error = "; ".join(f"{k}: {v}" for k, v in list(report.failed.items())[:3])
        self._corpus = JobStatus(CORPUS_JOB, CORPUS_JOB, state, total - len(report.failed),
                                 total, f"{report.chunks} chunks", error)


def _status(job: Job) -> JobStatus:
    return JobStatus(job.id, job.kind, job.state, job.progress.done, job.progress.total,
                     job.progress.message, job.error)


def _document_id(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"upload:{slug or 'untitled'}"
