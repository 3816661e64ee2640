"""The vector store: exact search, idempotent and atomic document versions, kept in sync.

Every test runs on SQLite and on PostgreSQL (the ``backend`` fixture).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from conftest import eventually
from genweave.app.chunking import Chunk
from genweave.app.extract import Document
from genweave.app.store import StoreError, VectorStore
from postgres_server import Backend

DIM = 8


def _document(doc_id: str, *paragraphs: str) -> tuple[Document, list[Chunk]]:
    """A document with one chunk per paragraph."""
    document = Document(doc_id, f"Title of {doc_id}", "\n\n".join(paragraphs),
                        metadata={"lang": "en"})
    chunks, start = [], 0
    for ordinal, paragraph in enumerate(paragraphs):
        end = start + len(paragraph)
        chunks.append(Chunk(doc_id, ordinal, paragraph, start, end, document.title))
        start = end + 2
    return document, chunks


def _vectors(chunks: list[Chunk]) -> np.ndarray:
    """A deterministic vector per chunk text, so tests can query for a chunk exactly."""
    return np.stack([_vector(c.text) for c in chunks])


def _vector(text: str) -> np.ndarray:
    seed = int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") ^ len(text)
    vector = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


VISIBILITY_BOUND = 1.0
"""Seconds within which a store that has searched picks up another process's publication
unasked, through PostgreSQL's NOTIFY (docs/storage.md states it)."""


@pytest.fixture
def store(backend: Backend) -> Iterator[VectorStore]:
    with VectorStore(backend.location("index"), model="test-model") as store:
        yield store


@pytest.fixture
def other(backend: Backend, store: VectorStore) -> Iterator[VectorStore]:
    """A second store object on the same database, as another process would have."""
    with VectorStore(backend.location("index")) as other:
        yield other


def _add(store: VectorStore, doc_id: str, *paragraphs: str) -> list[Chunk]:
    document, chunks = _document(doc_id, *paragraphs)
    assert store.add_document(document, chunks, _vectors(chunks))
    return chunks


def test_search_is_exact_cosine_best_first(store: VectorStore) -> None:
    chunks = _add(store, "a", "alpha one", "alpha two", "alpha three")
    _add(store, "b", "beta one", "beta two")
    hits = store.search(_vector("alpha two"), k=3)
    assert hits[0].text == "alpha two"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    everything = np.stack([_vector(t) for t in
                           ["alpha one", "alpha two", "alpha three", "beta one", "beta two"]])
    expected = np.sort(everything @ _vector("alpha two"))[::-1][:3]
    np.testing.assert_allclose([h.score for h in hits], expected, atol=1e-5)
    first = hits[0]
    assert (first.document_id, first.title, first.ordinal) == ("a", "Title of a", 1)
    assert (first.start, first.end) == (chunks[1].start, chunks[1].end)


def test_k_min_score_and_an_empty_store(store: VectorStore) -> None:
    assert store.search(_vector("anything")) == []
    _add(store, "a", "alpha one", "alpha two", "alpha three")
    assert len(store.search(_vector("x"), k=10)) == 3
    assert store.search(_vector("x"), k=0) == []
    assert [h.text for h in store.search(_vector("alpha one"), min_score=0.999)] == ["alpha one"]


def test_queries_need_not_be_normalised(store: VectorStore) -> None:
    _add(store, "a", "alpha one", "alpha two")
    hits = store.search(7 * _vector("alpha two"), k=1)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_adding_the_same_version_again_changes_nothing(store: VectorStore) -> None:
    document, chunks = _document("a", "alpha one", "alpha two")
    assert store.add_document(document, chunks, _vectors(chunks))
    revision = store.stats().revision
    assert not store.add_document(document, chunks, _vectors(chunks))
    stats = store.stats()
    assert (stats.documents, stats.chunks, stats.staged, stats.revision) == (1, 2, 0, revision)


def test_a_new_version_replaces_the_old_chunks(store: VectorStore) -> None:
    _add(store, "a", "old text one", "old text two", "old text three")
    store.search(_vector("warm up the index"))
    _add(store, "a", "new text")
    assert [c.text for c in store.chunks("a")] == ["new text"]
    assert {h.text for h in store.search(_vector("old text one"), k=10)} == {"new text"}
    assert store.stats().chunks == 1


def test_staged_chunks_are_invisible_until_published(store: VectorStore) -> None:
    _add(store, "a", "old one")
    document, chunks = _document("a", "new one", "new two", "new three")
    assert store.stage("a", "v2", chunks[:2], _vectors(chunks[:2])) == 2
    assert store.stage("a", "v2", chunks[:2], _vectors(chunks[:2])) == 0  # idempotent
    assert store.staged("a", "v2") == {0, 1}
    assert [h.text for h in store.search(_vector("new one"), k=5)] == ["old one"]
    with pytest.raises(StoreError, match="2 of 3 chunks are stored; stage the missing ones"):
        store.publish(document, "v2", 3)
    store.stage("a", "v2", chunks[2:], _vectors(chunks[2:]))
    assert store.publish(document, "v2", 3)
    assert not store.publish(document, "v2", 3)
    assert {h.text for h in store.search(_vector("x"), k=5)} == {"new one", "new two", "new three"}
    assert store.has_version("a", "v2")


def test_the_matrix_is_updated_in_place_on_own_writes(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(store, "a", "alpha one")
    store.search(_vector("load"))
    refreshes = []
    original = store.refresh
    monkeypatch.setattr(store, "refresh", lambda: refreshes.append(1) or original())
    _add(store, "b", "beta one")
    _add(store, "a", "alpha again")
    assert store.delete_document("b")
    assert [h.text for h in store.search(_vector("alpha again"), k=5)] == ["alpha again"]
    assert refreshes == []


def test_writes_by_another_store_object_are_seen(store: VectorStore, other: VectorStore) -> None:
    _add(store, "a", "alpha one")
    _add(store, "c", "gamma one")
    assert len(store.search(_vector("x"), k=5)) == 2
    _add(other, "b", "beta one")
    _add(other, "a", "alpha two")  # replaces a live chunk this store has in its matrix
    assert other.delete_document("c")
    assert {h.text for h in store.search(_vector("x"), k=5)} == {"alpha two", "beta one"}
    assert other.model == "test-model"
    assert store.loaded_revision == other.stats().revision


def test_another_store_object_catches_up_loading_only_what_changed(
    store: VectorStore, other: VectorStore
) -> None:
    _add(store, "a", "alpha one", "alpha two")
    other.search(_vector("load"))
    loaded = other.current_matrix()
    _add(store, "b", "beta one")
    caught_up = other.current_matrix()
    assert caught_up is not loaded and caught_up.revision == store.stats().revision
    np.testing.assert_array_equal(caught_up.vectors[:2], loaded.vectors)  # kept, not reloaded
    assert sorted(caught_up.ids) == sorted(h.chunk_id for h in store.search(_vector("x"), k=9))


PUBLISHER = textwrap.dedent("""
    import sys
    from genweave.app.chunking import Chunk
    from genweave.app.extract import Document
    from genweave.app.store import VectorStore
    document = Document("b", "Title of b", "beta one")
    vector = [[float(x) for x in sys.argv[2:]]]
    with VectorStore(sys.argv[1]) as store:
        store.add_document(document, [Chunk("b", 0, "beta one", 0, 8, "Title of b")], vector)
        print(store.stats().revision, flush=True)
""")


@pytest.mark.process
async def test_a_version_published_by_another_process_is_seen(
    store: VectorStore, backend: Backend
) -> None:
    """The stated bound: at once by a search; unasked within VISIBILITY_BOUND on PostgreSQL."""
    _add(store, "a", "alpha one")
    store.search(_vector("load the matrix"))
    before = store.loaded_revision
    publisher = subprocess.run(
        [sys.executable, "-c", PUBLISHER, store.location.target,
         *map(str, _vector("beta one"))], capture_output=True, text=True, timeout=60, check=True)
    revision = int(publisher.stdout)
    if backend.name == "sqlite":  # no notifications: the next search checks the revision
        assert store.loaded_revision == before
    else:  # the notification makes it catch up without a search
        await eventually(lambda: store.loaded_revision == revision, VISIBILITY_BOUND,
                         what="the store catching up on the notification")
    assert [h.text for h in store.search(_vector("beta one"), k=1)] == ["beta one"]


def test_chunks_staged_by_another_process_can_be_published(
    store: VectorStore, other: VectorStore
) -> None:
    document, chunks = _document("a", "alpha one", "alpha two")
    store.stage("a", "v1", chunks, _vectors(chunks))
    assert other.publish(document, "v1", 2)
    assert [h.text for h in other.search(_vector("alpha two"), k=1)] == ["alpha two"]


def test_documents_persist_with_their_metadata(store: VectorStore, backend: Backend) -> None:
    _add(store, "a", "alpha one", "alpha two")
    store.close()
    reopened = VectorStore(backend.location("index"), model="test-model")
    stored = reopened.get_document("a")
    assert stored is not None
    assert (stored.title, stored.chunks, stored.metadata) == ("Title of a", 2, {"lang": "en"})
    assert [d.id for d in reopened.documents()] == ["a"]
    assert reopened.search(_vector("alpha one"), k=1)[0].text == "alpha one"
    assert reopened.get_document("missing") is None
    reopened.close()


def test_an_empty_document_can_be_stored_and_replaced(store: VectorStore) -> None:
    _add(store, "a", "alpha one")
    store.search(_vector("load the index"))
    empty = Document("b", "Empty", "")
    assert store.add_document(empty, [], np.zeros((0, DIM), dtype=np.float32))
    _add(store, "a", "alpha two")
    assert [h.text for h in store.search(_vector("x"), k=5)] == ["alpha two"]
    stored = store.get_document("b")
    assert stored is not None and stored.chunks == 0


def test_delete_document(store: VectorStore) -> None:
    _add(store, "a", "alpha one")
    _add(store, "b", "beta one")
    assert store.delete_document("a")
    assert not store.delete_document("a")
    assert [h.document_id for h in store.search(_vector("x"), k=5)] == ["b"]
    assert store.stats().documents == 1


def test_refuses_vectors_of_another_model_or_size(store: VectorStore, backend: Backend) -> None:
    _add(store, "a", "alpha one")
    with pytest.raises(StoreError, match="holds vectors of model 'test-model', not 'other'"):
        VectorStore(backend.location("index"), model="other")
    document, chunks = _document("b", "beta")
    with pytest.raises(StoreError, match="vectors have 4 dimensions, but this store holds 8"):
        store.add_document(document, chunks, np.ones((1, 4), dtype=np.float32))
    with pytest.raises(StoreError, match="1 chunks but 2 vectors"):
        store.stage("b", "v", chunks, np.ones((2, DIM), dtype=np.float32))
    with pytest.raises(StoreError, match="queries have 4 dimensions, but this store holds 8"):
        store.search(np.ones(4, dtype=np.float32))


def test_threads_share_a_store(store: VectorStore) -> None:
    _add(store, "seed", "seed text")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                _add(store, f"w{worker}-{i}", f"worker {worker} item {i}")
                assert store.search(_vector(f"worker {worker} item {i}"), k=1)[0].score > 0.99
        except BaseException as error:  # reported below, with the thread's failure
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.stats().documents == 41
    assert len(store.search(_vector("x"), k=100)) == 41
