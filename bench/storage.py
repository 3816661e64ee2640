"""The storage backends under the reference app: ingestion and search, SQLite vs PostgreSQL.

On the reference corpus (Python's reference documentation, ``genweave.app.corpus``),
for each backend:

- ``ingestion``: the corpus through ``IngestPipeline`` (durable jobs, staged
  chunks, one publication per document) into a fresh database; chunks per second.
- ``search``: exact top-4 searches by a second store object (as a Retriever
  replica would: it checks the revision first), one at a time; p50 and p99.

Embeddings are computed once, up front, by a deterministic 384-dimension
bag-of-words embedder (the size of all-MiniLM-L6-v2's vectors), so the timings
are the storage's and not the model's.  SQLite is the baseline, measured in the
same run; PostgreSQL is a throwaway local server on a Unix socket
(``tests/support/postgres_server.py``; Debian's ``postgresql``, ``scripts/install-postgres``),
or the one named by ``GENWEAVE_DATABASE_URL``.  Backends are interleaved
within each repeat; results are medians over repeats.

Run::

    .venv/bin/python bench/storage.py          # ~1 minute; writes bench/results/storage.*
    .venv/bin/python bench/storage.py --quick  # smoke run; saves only with --out
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from _common import (
    bench_main,
    environment,
    goal,
    goals_table,
    markdown_table,
    median_summary,
)

from genweave._storage import DATABASE_URL_ENV, redact
from genweave.app.chunking import Chunker
from genweave.app.corpus import pydoc_corpus
from genweave.app.extract import Document
from genweave.app.ingest import IngestPipeline
from genweave.app.store import VectorStore
from genweave.models.embedding import Embeddings

TESTS: Final = Path(__file__).resolve().parent.parent / "tests" / "support"
DIMENSION: Final = 384
K: Final = 4
BACKENDS: Final = ("sqlite", "postgresql")
NS_PER_US: Final = 1_000
MAX_SEARCH_P50_US: Final = 1_000.0
"""A search on the shared store should cost well under embedding the query (~20 ms here,
bench/results/batching.md), so that PostgreSQL adds little to a retrieval."""
MIN_INGESTION_CHUNKS_PER_S: Final = 1_000.0
"""Storage must never be ingestion's bottleneck: the encoder embeds ~135 short texts/s here."""


@dataclass(frozen=True, slots=True)
class Sizes:
    name: str
    repeats: int
    documents: int | None
    """How many of the corpus's documents (None: all of them)."""
    searches: int


FULL: Final = Sizes("full", repeats=3, documents=None, searches=1_000)
QUICK: Final = Sizes("quick", repeats=1, documents=6, searches=50)


def _embed_text(text: str) -> np.ndarray:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    for word in text.lower().split():
        vector[zlib.crc32(word.encode()) % DIMENSION] += 1
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


class Embedded:
    """Every chunk's vector, computed once, so ingestion times only the storage."""

    def __init__(self, documents: list[Document], chunker: Chunker) -> None:
        texts = [c.embedding_text() for d in documents for c in chunker.chunk(d)]
        self.vectors = {text: _embed_text(text) for text in texts}
        self.chunks = len(texts)

    async def embed(self, texts: list[str]) -> Embeddings:
        return np.stack([self.vectors[t] for t in texts])


@contextlib.contextmanager
def _postgres() -> Iterator[Any]:
    """A database factory: the server of GENWEAVE_DATABASE_URL, or a throwaway one."""
    url = os.environ.get(DATABASE_URL_ENV, "")
    if url.startswith("postgres"):
        raise SystemExit(f"{redact(url)}: the bench creates and drops databases; give it a "
                         "server of its own (unset GENWEAVE_DATABASE_URL to start one)")
    sys.path.insert(0, str(TESTS))
    from postgres_server import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed: run scripts/install-postgres")
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


async def _one_backend(backend: str, where: str, documents: list[Document],
                       embedded: Embedded, queries: list[np.ndarray]) -> dict[str, float]:
    chunker = Chunker()
    with VectorStore(where, model="bag-of-words-384") as store:
        pipeline = IngestPipeline(store, embedded.embed, chunker=chunker)
        started = time.perf_counter()
        report = await pipeline.ingest_corpus(documents)
        seconds = time.perf_counter() - started
        pipeline.jobs.close()
        if report.failed or report.chunks != embedded.chunks:
            raise AssertionError(f"{backend}: ingestion went wrong: {report}")
    with VectorStore(where) as reader:
        reader.search(queries[0], k=K)  # load the matrix
        latencies = []
        for query in queries:
            t0 = time.perf_counter_ns()
            hits = reader.search(query, k=K)
            latencies.append(time.perf_counter_ns() - t0)
            if len(hits) != K:
                raise AssertionError(f"{backend}: {len(hits)} hits, expected {K}")
    p50, p99 = np.percentile(np.asarray(latencies, dtype=np.float64) / NS_PER_US, [50, 99])
    return {"chunks_per_s": round(report.chunks / seconds, 1), "ingest_s": round(seconds, 3),
            "search_p50_us": round(float(p50), 1), "search_p99_us": round(float(p99), 1)}


async def measure(sizes: Sizes) -> dict[str, Any]:
    documents = pydoc_corpus()[: sizes.documents]
    embedded = Embedded(documents, Chunker())
    texts = sorted(embedded.vectors)
    rng = np.random.default_rng(0)
    queries = [_embed_text(" ".join(texts[i].split()[:12]))
               for i in rng.integers(0, len(texts), sizes.searches)]
    runs: dict[str, list[dict[str, float]]] = {b: [] for b in BACKENDS}
    with _postgres() as server, tempfile.TemporaryDirectory(prefix="genweave-bench-") as tmp:
        for repeat in range(sizes.repeats):
            print(f"repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
            for backend in BACKENDS:
                if backend == "sqlite":
                    where = str(Path(tmp) / f"index-{repeat}.db")
                else:
                    where = server.url(server.create_database(f"bench{repeat}"))
                runs[backend].append(
                    await _one_backend(backend, where, documents, embedded, queries))
        server_version = server.bindir.parent.name
    return {
        "bench": "storage",
        "environment": environment(
            repeats=sizes.repeats, sizes=sizes.name, documents=len(documents),
            chunks=embedded.chunks, dimension=DIMENSION, searches=sizes.searches, k=K,
            postgresql=server_version, postgresql_connection="unix socket, same host",
        ),
        "cases": {b: {"median": median_summary(r), "repeats": r} for b, r in runs.items()},
    }


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    """PostgreSQL's costs against what they sit beside: the model, not SQLite."""
    postgres = cases["postgresql"]["median"]
    search, ingest = postgres["search_p50_us"], postgres["chunks_per_s"]
    return [
        goal("PostgreSQL search p50 (µs)", search, f"<= {MAX_SEARCH_P50_US:,.0f}",
             search <= MAX_SEARCH_P50_US),
        goal("PostgreSQL ingestion (chunks/s)", ingest, f">= {MIN_INGESTION_CHUNKS_PER_S:,.0f}",
             ingest >= MIN_INGESTION_CHUNKS_PER_S),
    ]


def render(report: dict[str, Any]) -> str:
    env, cases = report["environment"], report["cases"]
    base = cases["sqlite"]["median"]
    rows = []
    for backend, case in cases.items():
        m = case["median"]
        rows.append([backend, m["chunks_per_s"], f"{m['chunks_per_s'] / base['chunks_per_s']:.2f}x",
                     m["search_p50_us"], m["search_p99_us"],
                     f"{m['search_p50_us'] / base['search_p50_us']:.2f}x"])
    headers = ["backend", "ingestion chunks/s", "vs SQLite", "search p50 µs", "search p99 µs",
               "p50 vs SQLite"]
    return "\n".join([
        "# storage: SQLite and PostgreSQL under the vector store and the job queue",
        "",
        f"{env['date']}, Python {env['python']}, {env['cpu_count']} CPUs, load "
        f"{env['load_average'][0]}; median of {env['repeats']} repeats; {env['documents']} "
        f"documents of the reference corpus, {env['chunks']} chunks of {env['dimension']} "
        f"float32; {env['searches']} searches of k={env['k']}; PostgreSQL "
        f"{env['postgresql']} on a {env['postgresql_connection']}.",
        "",
        markdown_table(headers, rows),
        "",
        goals_table(report["goals"]),
    ])


def main(argv: list[str] | None = None) -> int:
    return bench_main("storage", __doc__ or "", full=FULL, quick=QUICK, measure=measure,
                      goals=goals, render=render, argv=argv,
                      quick_help="six documents and fifty searches")


if __name__ == "__main__":
    sys.exit(main())
