"""The vector store: documents, their chunks and embeddings in SQLite; search in numpy.

Exact search is the right default at this scale: a corpus of 10^5 chunks of
384 float32 is 150 MB and one matrix-vector product (milliseconds); no index to
tune, no approximation to explain.  The matrix of live vectors is loaded on the
first search and kept in sync by every write through this object; a write by
another process or object bumps a revision number in the database, and the
next search reloads.

Documents change.  Each version's chunks are written *staged* (invisible to
search), possibly over several calls (the ingestor stores them as they are
embedded, so a crash loses nothing), and then *published* in one transaction
that also deletes the previous version's chunks: a search sees the old
version or the new one, never a mixture and never a duplicate.

Threads: each thread gets its own SQLite connection (WAL mode, so readers do
not block the writer); the in-memory matrix is guarded by a lock.  All methods
are synchronous and short except a first search on a big store (it loads the
matrix); async callers may call them directly or through ``asyncio.to_thread``.

>>> store = VectorStore("index.db", model="all-MiniLM-L6-v2")
>>> store.add_document(document, chunks, encoder.encode([c.embedding_text() for c in chunks]))
True
>>> [hit.title for hit in store.search(encoder.encode(["while loops"])[0], k=3)]
['The "while" statement', ...]
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
from numpy.typing import NDArray

from genweave._sqlite import SQLiteFile
from genweave.app.chunking import Chunk
from genweave.app.extract import Document
from genweave.errors import GenweaveError

__all__ = ["Hit", "StoreError", "StoreStats", "StoredDocument", "VectorStore"]

Vectors = NDArray[np.float32]

DEFAULT_K: Final = 5
_REVISION: Final = "revision"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    version TEXT NOT NULL,
    media_type TEXT NOT NULL,
    source TEXT NOT NULL,
    metadata BLOB NOT NULL,
    chunks INTEGER NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL,
    version TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    title TEXT NOT NULL,
    heading TEXT NOT NULL,
    start INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    text TEXT NOT NULL,
    live INTEGER NOT NULL DEFAULT 0,
    UNIQUE (document_id, version, ordinal)
);
CREATE INDEX IF NOT EXISTS chunks_live ON chunks (live, id);
CREATE TABLE IF NOT EXISTS embeddings (chunk_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
"""


class StoreError(GenweaveError):
    """The store cannot do what was asked (mismatched model or dimension, missing chunks)."""


class Hit(msgspec.Struct, frozen=True):
    """A search result: a chunk, its document's title and its cosine similarity."""

    chunk_id: int
    document_id: str
    title: str
    ordinal: int
    heading: str
    text: str
    start: int
    end: int
    score: float


class StoredDocument(msgspec.Struct, frozen=True):
    id: str
    title: str
    version: str
    media_type: str
    source: str
    metadata: dict[str, str]
    chunks: int
    added: float


class StoreStats(msgspec.Struct, frozen=True):
    path: str
    model: str
    dimension: int
    documents: int
    chunks: int
    staged: int
    """Chunks of versions not yet published (an ingestion in progress or interrupted)."""
    revision: int


class _Index:
    """The live vectors as one matrix, with the chunk id of each row."""

    def __init__(self, ids: NDArray[np.int64], vectors: Vectors, revision: int) -> None:
        self.ids, self.vectors, self.revision = ids, vectors, revision

    def replace(self, removed: Sequence[int], ids: Sequence[int], vectors: Vectors) -> None:
        keep = ~np.isin(self.ids, np.asarray(removed, dtype=np.int64))
        self.ids = np.concatenate([self.ids[keep], np.asarray(ids, dtype=np.int64)])
        kept = self.vectors[keep]
        # Either side may be empty, and then has no width (an empty store's index has none).
        if len(kept) and len(vectors):
            self.vectors = np.concatenate([kept, vectors])
        else:
            self.vectors = vectors if len(vectors) else kept

    def top(self, query: Vectors, k: int, min_score: float | None) -> list[tuple[int, float]]:
        scores = self.vectors @ query
        if k < len(scores):
            best = np.argpartition(-scores, k)[:k]
            best = best[np.argsort(-scores[best], kind="stable")]
        else:
            best = np.argsort(-scores, kind="stable")
        floor = -np.inf if min_score is None else min_score
        return [(int(self.ids[i]), float(scores[i])) for i in best if scores[i] >= floor]


def _unit_rows(vectors: Any) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise StoreError(f"expected a matrix of vectors, one row per chunk; got {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.ascontiguousarray(array / np.where(norms == 0, 1, norms), dtype=np.float32)


class VectorStore:
    """Documents, chunks and embeddings in one SQLite file, searched by exact cosine.

    ``model`` names the embedding model; a store refuses vectors of another model
    or dimension, since their similarities would mean nothing.

    >>> store = VectorStore(tmp_path / "index.db", model="all-MiniLM-L6-v2")
    >>> store.stats().documents
    0
    """

    def __init__(self, path: str | Path, *, model: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._sql = SQLiteFile(self.path)
        self._lock = threading.Lock()
        self._index: _Index | None = None
        self._db().executescript(_SCHEMA)
        with self._transaction() as db:
            for key, default in (
                ("id", uuid.uuid4().hex), ("model", model), ("dimension", "0"), (_REVISION, "0")
            ):
                db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING", (key, default))
            # Unique to this file: a store deleted and created again is another store.
            self.id = self._meta(db, "id")
            self.model = self._meta(db, "model")
            if not self.model and model:
                db.execute("UPDATE meta SET value = ? WHERE key = 'model'", (model,))
                self.model = model
            self.dimension = int(self._meta(db, "dimension"))
        if model and model != self.model:
            raise StoreError(
                f"{self.path}: this store holds vectors of model {self.model!r}, not {model!r}; "
                "use another path for the new model, or delete this store to re-ingest"
            )

    # -- connections ---------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        return self._sql.connection()

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._sql.transaction()

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str) -> str:
        return str(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def _revision(self, db: sqlite3.Connection) -> int:
        return int(self._meta(db, _REVISION))

    # -- writing -------------------------------------------------------------------

    def add_document(
        self, document: Document, chunks: Sequence[Chunk], vectors: Any, *, version: str = ""
    ) -> bool:
        """Stores a document's chunks and replaces its previous version, atomically.

        ``version`` defaults to the content hash.  Returns ``False``, changing
        nothing, when this version is already stored.
        """
        version = version or document.content_hash
        if self.has_version(document.id, version):
            return False
        self.stage(document.id, version, chunks, vectors)
        return self.publish(document, version, len(chunks))

    def stage(self, document_id: str, version: str, chunks: Sequence[Chunk], vectors: Any) -> int:
        """Stores chunks of a version, invisible to search until :meth:`publish`.

        Chunks already staged (same document, version and ordinal) are skipped,
        so a resumed ingestion may send a batch twice.  Returns how many were new.
        """
        rows = _unit_rows(vectors)
        if len(rows) != len(chunks):
            raise StoreError(f"{document_id}: {len(chunks)} chunks but {len(rows)} vectors")
        added = 0
        with self._transaction() as db:
            self._check_dimension(db, rows.shape[1])
            for chunk, vector in zip(chunks, rows, strict=True):
                cursor = db.execute(
                    "INSERT INTO chunks (document_id, version, ordinal, title, heading, start,"
                    " stop, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                    " RETURNING id",
                    (document_id, version, chunk.ordinal, chunk.title, chunk.heading,
                     chunk.start, chunk.end, chunk.text),
                ).fetchone()
                if cursor is not None:
                    db.execute(
                        "INSERT INTO embeddings VALUES (?, ?)", (cursor[0], vector.tobytes())
                    )
                    added += 1
        return added

    def _check_dimension(self, db: sqlite3.Connection, dimension: int) -> None:
        self.dimension = int(self._meta(db, "dimension"))
        if not self.dimension:  # the first vectors decide
            db.execute("UPDATE meta SET value = ? WHERE key = 'dimension'", (str(dimension),))
            self.dimension = dimension
        if dimension != self.dimension:
            raise self._mismatch("vectors", dimension)

    def _mismatch(self, what: str, dimension: int) -> StoreError:
        return StoreError(
            f"{self.path}: {what} have {dimension} dimensions, but this store holds "
            f"{self.dimension} ({self.model or 'unnamed model'}); embed with the store's model"
        )

    def staged(self, document_id: str, version: str) -> set[int]:
        """The ordinals of a version's chunks stored so far (staged or live)."""
        rows = self._db().execute(
            "SELECT ordinal FROM chunks WHERE document_id = ? AND version = ?",
            (document_id, version),
        )
        return {ordinal for (ordinal,) in rows}

    def publish(self, document: Document, version: str, total: int) -> bool:
        """Makes a staged version live and drops the previous one, in one transaction.

        Raises :class:`StoreError` unless chunks ``0 .. total-1`` are all staged.
        Returns ``False`` when this version was already live.
        """
        metadata = msgspec.msgpack.encode(document.metadata)
        with self._transaction() as db:
            if self._live_version(db, document.id) == version:
                return False
            rows = db.execute(
                "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id = c.id"
                " WHERE c.document_id = ? AND c.version = ? AND c.ordinal < ? ORDER BY c.id",
                (document.id, version, total),
            ).fetchall()
            self.dimension = int(self._meta(db, "dimension"))  # maybe set by another process
            if len(rows) != total:
                raise StoreError(
                    f"{document.id}: cannot publish version {version[:12]}: {len(rows)} of "
                    f"{total} chunks are stored; stage the missing ones first"
                )
            removed = self._drop(db, document.id, keep_version=version)
            db.execute("UPDATE chunks SET live = 1 WHERE document_id = ? AND version = ?",
                       (document.id, version))
            db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (document.id, document.title, version, document.media_type, document.source,
                 metadata, total, time.time()),
            )
            revision = self._bump(db)
        vectors = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32)
        self._apply(revision, removed, [i for i, _ in rows], vectors.reshape(total, self.dimension))
        return True

    def delete_document(self, document_id: str) -> bool:
        """Removes a document and all its chunks; ``False`` if it was not stored."""
        with self._transaction() as db:
            removed = self._drop(db, document_id, keep_version=None)
            deleted = db.execute("DELETE FROM documents WHERE id = ?", (document_id,)).rowcount
            revision = self._bump(db)
        self._apply(revision, removed, [], np.zeros((0, self.dimension), dtype=np.float32))
        return bool(deleted or removed)

    def _live_version(self, db: sqlite3.Connection, document_id: str) -> str | None:
        row = db.execute("SELECT version FROM documents WHERE id = ?", (document_id,)).fetchone()
        return None if row is None else str(row[0])

    def _drop(
        self, db: sqlite3.Connection, document_id: str, keep_version: str | None
    ) -> list[int]:
        """Deletes the document's chunks of other versions; returns the live ones deleted."""
        rows = db.execute(
            "DELETE FROM chunks WHERE document_id = ? AND version IS NOT ? RETURNING id, live",
            (document_id, keep_version),
        ).fetchall()
        db.executemany("DELETE FROM embeddings WHERE chunk_id = ?", [(i,) for i, _ in rows])
        return [chunk_id for chunk_id, live in rows if live]

    def _bump(self, db: sqlite3.Connection) -> int:
        revision = self._revision(db) + 1
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(revision), _REVISION))
        return revision

    def _apply(self, revision: int, removed: list[int], ids: list[int], vectors: Vectors) -> None:
        """Brings the in-memory matrix up to ``revision`` if it was one behind."""
        with self._lock:
            index = self._index
            if index is not None and index.revision == revision - 1:
                index.replace(removed, ids, vectors)
                index.revision = revision

    # -- reading -------------------------------------------------------------------

    def has_version(self, document_id: str, version: str) -> bool:
        """Whether this version of the document is live (published)."""
        return self._live_version(self._db(), document_id) == version

    def search(self, vector: Any, k: int = DEFAULT_K, min_score: float | None = None) -> list[Hit]:
        """The ``k`` live chunks most similar to ``vector``, best first."""
        index = self._current_index()
        if not len(index.ids) or k <= 0:
            return []
        query = _unit_rows(np.reshape(vector, (1, -1)))[0]
        if len(query) != index.vectors.shape[1]:
            raise self._mismatch("queries", len(query))
        best = index.top(query, k, min_score)
        placeholders = ", ".join("?" * len(best))
        rows = self._db().execute(
            "SELECT c.id, c.document_id, d.title, c.ordinal, c.heading, c.text, c.start, c.stop"
            " FROM chunks c JOIN documents d ON d.id = c.document_id"
            f" WHERE c.id IN ({placeholders})",
            [chunk_id for chunk_id, _ in best],
        )
        found = {row[0]: row for row in rows}
        return [_hit(found[chunk_id], score) for chunk_id, score in best if chunk_id in found]

    def _current_index(self) -> _Index:
        db = self._db()
        revision = self._revision(db)
        with self._lock:
            if self._index is None or self._index.revision != revision:
                self._index = self._load(db)
            return self._index

    def _load(self, db: sqlite3.Connection) -> _Index:
        db.execute("BEGIN")  # one snapshot: the revision and the rows must agree
        try:
            revision = self._revision(db)
            self.dimension = int(self._meta(db, "dimension"))
            rows = db.execute(
                "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id = c.id"
                " WHERE c.live = 1 ORDER BY c.id"
            ).fetchall()
        finally:
            db.execute("COMMIT")
        vectors = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32)
        return _Index(np.asarray([i for i, _ in rows], dtype=np.int64),
                      vectors.reshape(len(rows), self.dimension), revision)

    def get_document(self, document_id: str) -> StoredDocument | None:
        row = self._db().execute(
            "SELECT * FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        return None if row is None else _stored(row)

    def documents(self) -> list[StoredDocument]:
        return [_stored(row) for row in self._db().execute("SELECT * FROM documents ORDER BY id")]

    def chunks(self, document_id: str) -> list[Chunk]:
        """The live chunks of a document, in order."""
        rows = self._db().execute(
            "SELECT document_id, ordinal, text, start, stop, title, heading FROM chunks"
            " WHERE document_id = ? AND live = 1 ORDER BY ordinal",
            (document_id,),
        )
        return [Chunk(*row) for row in rows]

    def stats(self) -> StoreStats:
        db = self._db()
        documents = db.execute("SELECT count(*) FROM documents").fetchone()[0]
        live, staged = db.execute(
            "SELECT coalesce(sum(live), 0), coalesce(sum(1 - live), 0) FROM chunks"
        ).fetchone()
        return StoreStats(str(self.path), self.model, self.dimension, documents, live, staged,
                          self._revision(db))

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes every thread's connection; the store must not be used afterwards."""
        with self._lock:
            self._index = None
        self._sql.close()


def _hit(row: tuple[Any, ...], score: float) -> Hit:
    chunk_id, document_id, title, ordinal, heading, text, start, end = row
    return Hit(chunk_id, document_id, title, ordinal, heading, text, start, end, score)


def _stored(row: tuple[Any, ...]) -> StoredDocument:
    id, title, version, media_type, source, metadata, chunks, added = row
    return StoredDocument(id, title, version, media_type, source,
                          msgspec.msgpack.decode(metadata, type=dict[str, str]), chunks, added)
