"""Retrieval quality on the demo corpus: recall@5 of labelled queries drawn from the corpus.

Each pydoc topic gives two queries whose answer is any chunk of that topic:
a sentence from the middle of its prose, lower-cased and stripped of markup
(a piece of one chunk, never a whole one), and its title without markup.

Ingesting the corpus with the real model takes ~35 s on 2 cores, so the store
is cached in pytest's cache directory (a temporary directory under ``-p
no:cacheprovider``) under a key made of the corpus and the source of the
modules that decide what is stored.  A cached store is still checked by
ingesting the corpus again, which must add nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from genweave.app import chunking, extract, ingest, store
from genweave.app.corpus import corpus_hash, pydoc_corpus
from genweave.app.extract import Document
from genweave.app.ingest import IngestPipeline
from genweave.app.store import VectorStore
from genweave.models.embedding import SentenceEncoder

# Ingesting the whole corpus takes about a minute on 2 quiet cores, more on busy ones.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

K = 5
MIN_RECALL = 0.8
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_MARKUP = re.compile(r"[\"*]")


def _prose_sentences(document: Document) -> list[str]:
    """Sentences of 8-30 words from prose paragraphs (no grammar, code or tables)."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", document.text):
        if "::=" in paragraph or ">>>" in paragraph or paragraph.lstrip()[:1] in {"+", "|"}:
            continue
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            if 8 <= len(sentence.split()) <= 30 and sentence.endswith("."):
                sentences.append(sentence)
    return sentences


def _queries(documents: list[Document]) -> dict[str, list[tuple[str, str]]]:
    """Query sets: name -> [(query, id of the document that answers it)]."""
    by_sentence = []
    for document in documents:
        sentences = _prose_sentences(document)
        if sentences:
            query = _MARKUP.sub("", sentences[len(sentences) // 2]).lower()
            by_sentence.append((query, document.id))
    by_title = [(_MARKUP.sub("", d.title), d.id) for d in documents]
    return {"sentence": by_sentence, "title": by_title}


def _cache_key(documents: list[Document]) -> str:
    digest = hashlib.sha256(corpus_hash(documents).encode())
    for module in (extract, chunking, store, ingest):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def store_directory(request: pytest.FixtureRequest) -> Path:
    cache = getattr(request.config, "cache", None)
    if cache is None:  # run with -p no:cacheprovider: a fixed place, still keyed by content
        directory = Path(tempfile.gettempdir()) / "genweave-test-cache" / "retrieval"
        directory.mkdir(parents=True, exist_ok=True)
        return directory
    return Path(cache.mkdir("genweave-retrieval"))


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.load()


@pytest_asyncio.fixture(scope="module")
async def corpus_store(
    store_directory: Path, encoder: SentenceEncoder
) -> AsyncIterator[VectorStore]:
    documents = pydoc_corpus()
    key = _cache_key(documents)
    for stale in store_directory.glob("pydoc-*"):
        if key not in stale.name:
            stale.unlink()
    vector_store = VectorStore(store_directory / f"pydoc-{key}.db", model=encoder.name)
    ingestor = IngestPipeline.local(vector_store, encoder)
    started = time.perf_counter()
    report = await ingestor.ingest_corpus(documents)
    print(f"\ningested {report.documents} documents, {report.chunks} chunks "
          f"({report.embedded} embedded now) in {time.perf_counter() - started:.1f} s")
    assert report.failed == {} and report.documents == len(documents)
    again = await ingestor.ingest_corpus(documents)
    assert (again.embedded, again.changed) == (0, 0)
    with vector_store, ingestor.jobs:
        yield vector_store


def test_queries_are_pieces_of_chunks_not_whole_chunks(corpus_store: VectorStore) -> None:
    documents = pydoc_corpus()
    sentences = _queries(documents)["sentence"]
    assert len(sentences) >= 0.95 * len(documents)
    whole = {" ".join(c.text.split()).lower() for d in documents for c in corpus_store.chunks(d.id)}
    assert not any(query in whole for query, _ in sentences)


@pytest.mark.parametrize("query_set", ["sentence", "title"])
def test_recall_at_5(
    query_set: str, corpus_store: VectorStore, encoder: SentenceEncoder
) -> None:
    queries = _queries(pydoc_corpus())[query_set]
    vectors = encoder.encode([query for query, _ in queries])
    ranks = []
    for (_, answer), vector in zip(queries, vectors, strict=True):
        found = [hit.document_id for hit in corpus_store.search(vector, k=K)]
        ranks.append(found.index(answer) + 1 if answer in found else None)
    recall = sum(rank is not None for rank in ranks) / len(ranks)
    recall_1 = sum(rank == 1 for rank in ranks) / len(ranks)
    mrr = sum(1 / rank for rank in ranks if rank) / len(ranks)
    print(f"\n{query_set} queries ({len(queries)}): recall@1 {recall_1:.3f}, "
          f"recall@{K} {recall:.3f}, MRR@{K} {mrr:.3f}")
    assert recall >= MIN_RECALL
