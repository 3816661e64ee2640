"""Ingestion: documents -> chunks -> embeddings -> vector store, durably.

Each document becomes a job in the durable queue (:mod:`genweave.jobs`).  The
job chunks the document, embeds the chunks in batches and stages each batch
in the store as soon as it is embedded, then publishes the new version in one
transaction and only then is acknowledged.  If the process dies half way, the
job's lease runs out and whoever claims it next (:meth:`IngestPipeline.resume`, or
the next :meth:`IngestPipeline.ingest` of the same document) embeds only the chunks
that are not stored yet.  Ingesting a document whose version is already live
does nothing.

The embedder is an async function, so the same pipeline runs with a local
encoder in a thread (:meth:`IngestPipeline.local`), behind a dynamic batcher, or
through a Ref to an ``Embedder`` component in another process.  The store and
queue calls it makes are short transactions, made directly on the loop.  The
queue lives with the store: beside its SQLite file, or in its PostgreSQL
database, where Ingestor replicas on any number of hosts share both; a
version is published exactly once however many of them run its job (the
store's publish checks the version in the transaction that makes it live).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

import msgspec

from genweave.app.chunking import Chunk, Chunker
from genweave.app.extract import Document
from genweave.app.store import StoreError, VectorStore
from genweave.jobs import FINISHED, Job, JobQueue, LeaseLost
from genweave.models.embedding import Embeddings, Encoder

__all__ = ["CorpusReport", "EmbedFunction", "IngestPipeline", "IngestProgress", "IngestResult"]

EmbedFunction = Callable[[list[str]], Awaitable[Embeddings]]
ProgressCallback = Callable[["IngestProgress"], None]

JOB_KIND: Final = "ingest"
DEFAULT_BATCH_SIZE: Final = 32
DEFAULT_LEASE: Final = 120.0
"""Renewed after every batch, so it only has to outlast one batch of embeddings."""


class IngestProgress(msgspec.Struct, frozen=True):
    document_id: str
    done: int
    """Chunks stored so far, those found stored by an earlier attempt included."""
    total: int


class IngestResult(msgspec.Struct, frozen=True):
    document_id: str
    version: str
    chunks: int
    embedded: int = 0
    """Chunks embedded by this call."""
    resumed: int = 0
    """Chunks an interrupted earlier attempt had already stored (not embedded again)."""
    changed: bool = False
    """Whether this call made a new version live (``False``: it already was)."""
    job: str = ""
    seconds: float = 0.0


class CorpusReport(msgspec.Struct, frozen=True):
    documents: int
    chunks: int
    embedded: int
    changed: int
    seconds: float
    failed: dict[str, str] = {}
    """Document id -> error, for the documents that could not be ingested."""


class IngestPipeline:
    """Chunks, embeds and stores documents through the durable job queue.

    >>> store = VectorStore("index.db", model="all-MiniLM-L6-v2")
    >>> pipeline = IngestPipeline.local(store, SentenceEncoder.load())
    >>> report = await pipeline.ingest_corpus(pydoc_corpus())
    >>> (await pipeline.ingest(pydoc_corpus()[0])).changed       # already stored
    False
    """

    def __init__(
        self,
        store: VectorStore,
        embed: EmbedFunction,
        *,
        jobs: JobQueue | None = None,
        chunker: Chunker | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.store, self.embed = store, embed
        self.jobs = jobs or JobQueue(store.location.companion(".jobs"))
        self.chunker = chunker or Chunker()
        self.batch_size, self.lease = batch_size, lease

    @classmethod
    def local(
        cls,
        store: VectorStore,
        encoder: Encoder,
        *,
        jobs: JobQueue | None = None,
        chunker: Chunker | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        lease: float = DEFAULT_LEASE,
    ) -> IngestPipeline:
        """An ingestor that runs ``encoder`` in a worker thread of this process."""
        if store.model and store.model != encoder.name:
            raise StoreError(
                f"{store.location}: this store holds vectors of {store.model!r}, "
                f"not {encoder.name!r}"
            )

        async def embed(texts: list[str]) -> Embeddings:
            return await asyncio.to_thread(encoder.encode, texts)

        return cls(store, embed, jobs=jobs, chunker=chunker, batch_size=batch_size, lease=lease)

    def version(self, document: Document) -> str:
        """Identifies what is stored: the document's content and how it was chunked."""
        key = f"{document.content_hash}\0{self.chunker.fingerprint}".encode()
        return hashlib.sha256(key).hexdigest()

    def submit(self, document: Document) -> Job:
        """Queues the document for ingestion without waiting for it; returns its job.

        A version already queued, running or stored is not queued twice: its job
        is returned.  A version whose job failed, or that was stored and has since
        been replaced or deleted, is queued again.
        """
        version = self.version(document)
        job = self.jobs.enqueue(JOB_KIND, document, key=f"{self.store.id}:{document.id}:{version}")
        if job.state in FINISHED and not self.store.has_version(document.id, version):
            job = self.jobs.retry(job.id)
        return job

    async def ingest(
        self, document: Document, progress: ProgressCallback | None = None
    ) -> IngestResult:
        """Makes this version of the document searchable; resumes an interrupted attempt."""
        version = self.version(document)
        stored = self.store.get_document(document.id)
        if stored is not None and stored.version == version:
            return IngestResult(document.id, version, stored.chunks)
        job = self.submit(document)
        claimed = self.jobs.claim(JOB_KIND, job_id=job.id, lease=self.lease)
        if claimed is None:  # another worker holds it, or it has just finished
            return (await self.jobs.wait(job.id)).decode_result(IngestResult)
        return await self._run(claimed, progress)

    async def resume(self, progress: ProgressCallback | None = None) -> list[IngestResult]:
        """Runs every queued ingestion job and every one whose worker died, until none is left.

        Returns the results of those that succeeded; a failure is recorded on its job.
        """
        results = []
        while (job := self.jobs.claim(JOB_KIND, lease=self.lease)) is not None:
            try:
                results.append(await self._run(job, progress))
            except Exception:
                continue  # the job says why it failed, or another worker now owns it
        return results

    async def work(self, progress: ProgressCallback | None = None, *, poll: float = 1.0) -> None:
        """Runs submitted jobs as they arrive, until cancelled: a background worker.

        Cancelling it mid-job gives the job back to the queue, with its chunks kept.

        >>> worker = asyncio.create_task(pipeline.work())
        >>> job = pipeline.submit(document)
        >>> await pipeline.jobs.wait(job.id)
        """
        while True:
            await self.resume(progress)
            await asyncio.sleep(poll)

    async def ingest_corpus(
        self,
        documents: Iterable[Document],
        progress: ProgressCallback | None = None,
        *,
        concurrency: int = 1,
    ) -> CorpusReport:
        """Ingests many documents; every one is queued first, so a crash resumes them all.

        ``concurrency`` > 1 overlaps documents, which pays when ``embed`` goes
        through a dynamic batcher or to several replicas.
        """
        started, documents = time.perf_counter(), list(documents)
        for document in documents:
            if not self.store.has_version(document.id, self.version(document)):
                self.submit(document)
        limit = asyncio.Semaphore(concurrency)

        async def one(document: Document) -> IngestResult | str:
            async with limit:
                try:
                    return await self.ingest(document, progress)
                except Exception as error:  # reported per document; the others go on
                    return f"{type(error).__name__}: {error}"

        outcomes = await asyncio.gather(*(one(document) for document in documents))
        results = [o for o in outcomes if isinstance(o, IngestResult)]
        return CorpusReport(
            documents=len(results),
            chunks=sum(r.chunks for r in results),
            embedded=sum(r.embedded for r in results),
            changed=sum(r.changed for r in results),
            seconds=time.perf_counter() - started,
            failed={
                doc.id: o for doc, o in zip(documents, outcomes, strict=True) if isinstance(o, str)
            },
        )

    async def _run(self, job: Job, progress: ProgressCallback | None) -> IngestResult:
        """Does a claimed job and acknowledges it; on an error the job is failed, not lost."""
        try:
            result = await self._process(job, job.decode_payload(Document), progress)
        except LeaseLost:
            raise  # another worker owns the job now; it will finish it
        except asyncio.CancelledError:
            with contextlib.suppress(LeaseLost):  # if it is lost, it is someone else's anyway
                self.jobs.release(job)  # stopped, not broken: queued again for later
            raise
        except Exception as error:
            self.jobs.fail(job, f"{type(error).__name__}: {error}")
            raise
        self.jobs.complete(job, result)
        return result

    async def _process(
        self, job: Job, document: Document, progress: ProgressCallback | None
    ) -> IngestResult:
        started, version = time.perf_counter(), self.version(document)
        chunks = self.chunker.chunk(document)
        stored = self.store.staged(document.id, version)
        missing = [chunk for chunk in chunks if chunk.ordinal not in stored]
        done = len(chunks) - len(missing)
        self._report(job, document, done, len(chunks), progress)
        for batch in _batches(missing, self.batch_size):
            vectors = await self.embed([chunk.embedding_text() for chunk in batch])
            self.store.stage(document.id, version, batch, vectors)
            done += len(batch)
            self._report(job, document, done, len(chunks), progress)
        changed = self.store.publish(document, version, len(chunks))
        return IngestResult(
            document.id, version, len(chunks), embedded=len(missing),
            resumed=len(chunks) - len(missing), changed=changed, job=job.id,
            seconds=time.perf_counter() - started,
        )

    def _report(
        self, job: Job, document: Document, done: int, total: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.jobs.progress(job, done, total, f"{document.id}: {done}/{total} chunks stored")
        if progress is not None:
            progress(IngestProgress(document.id, done, total))


def _batches(chunks: Sequence[Chunk], size: int) -> Iterable[Sequence[Chunk]]:
    return (chunks[i : i + size] for i in range(0, len(chunks), size))
