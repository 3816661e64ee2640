"""The vector store: one class, the same SQL on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Final

import msgspec
import numpy as np

from genweave._storage import Listener, Location, Session, migrate, open_database
from genweave.app.chunking import Chunk
from genweave.app.extract import Document
from genweave.app.store.matrix import SearchMatrix, Vectors, unit_rows, vectors_from_blobs
from genweave.app.store.records import (
    Hit,
    StoredDocument,
    StoreError,
    StoreStats,
    hit_from_row,
    stored_from_row,
)
from genweave.app.store.schema import STORE_SCHEMA

__all__ = ["DEFAULT_K", "VectorStore"]

DEFAULT_K: Final = 5
ROWS_PER_INSERT: Final = 500
"""Chunks per INSERT statement: far below SQLite's limit on bound parameters."""
_REVISION: Final = "revision"
_CHUNK_COLUMNS: Final = "document_id, version, ordinal, title, heading, start, stop, text"
_UPSERT_DOCUMENT: Final = (
    "INSERT INTO documents (id, title, version, media_type, source, metadata, chunks, added)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
    " title = excluded.title, version = excluded.version, media_type = excluded.media_type,"
    " source = excluded.source, metadata = excluded.metadata, chunks = excluded.chunks,"
    " added = excluded.added"
)
_LIVE_VECTORS: Final = ("SELECT c.id, e.vector FROM chunks c JOIN embeddings e"
                        " ON e.chunk_id = c.id WHERE c.live = 1")


class VectorStore:
    """Documents, chunks and embeddings in one database, searched by exact cosine.

    ``location`` is a SQLite file or a ``postgresql://`` URL.  ``model`` names
    the embedding model; a store refuses vectors of another model or dimension,
    since their similarities would mean nothing.

    >>> store = VectorStore(tmp_path / "index.db", model="all-MiniLM-L6-v2")
    >>> store.stats().documents
    0
    """

    def __init__(self, location: str | os.PathLike[str] | Location, *, model: str = "") -> None:
        self.location = Location.parse(location)
        self._database = open_database(self.location)
        self._matrix: SearchMatrix | None = None
        self._refreshing = threading.Lock()
        self._listener: Listener | None = None
        try:
            migrate(self._database, STORE_SCHEMA)
            self._open(model)
        except BaseException:
            self._database.close()
            raise
        # Unique to this store: one deleted and created again is another store.
        self.channel = f"genweave_store_{self.id}"
        self._sender = uuid.uuid4().hex  # this object's own notifications come back: skip them

    def _open(self, model: str) -> None:
        with self._database.transaction() as db:
            for key, default in (
                ("id", uuid.uuid4().hex), ("model", model), ("dimension", "0"), (_REVISION, "0")
            ):
                db.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                           (key, default))
            self.id = _meta(db, "id")
            self.model = _meta(db, "model")
            if not self.model and model:
                db.execute("UPDATE meta SET value = %s WHERE key = 'model'", (model,))
                self.model = model
            self.dimension = int(_meta(db, "dimension"))
        if model and model != self.model:
            raise StoreError(
                f"{self.location}: this store holds vectors of model {self.model!r}, not "
                f"{model!r}; use another store for the new model, or delete this one to re-ingest"
            )

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
        rows = unit_rows(vectors)
        if len(rows) != len(chunks):
            raise StoreError(f"{document_id}: {len(chunks)} chunks but {len(rows)} vectors")
        added = 0
        with self._database.transaction() as db:
            self._check_dimension(db, rows.shape[1])
            for start in range(0, len(chunks), ROWS_PER_INSERT):
                batch = chunks[start : start + ROWS_PER_INSERT]
                values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch))
                inserted = db.execute(
                    f"INSERT INTO chunks ({_CHUNK_COLUMNS}) VALUES {values}"
                    " ON CONFLICT DO NOTHING RETURNING id, ordinal",
                    [v for c in batch for v in (document_id, version, c.ordinal, c.title,
                                                c.heading, c.start, c.end, c.text)],
                ).fetchall()
                if inserted:
                    row_of = {chunk.ordinal: start + i for i, chunk in enumerate(batch)}
                    db.execute(
                        "INSERT INTO embeddings (chunk_id, vector) VALUES "
                        + ", ".join(["(%s, %s)"] * len(inserted)),
                        [v for chunk_id, ordinal in inserted
                         for v in (chunk_id, rows[row_of[ordinal]].tobytes())],
                    )
                added += len(inserted)
        return added

    def _check_dimension(self, db: Session, dimension: int) -> None:
        # The first vectors decide; two first writers agree through the row's lock.
        db.execute("UPDATE meta SET value = %s WHERE key = 'dimension' AND value = '0'",
                   (str(dimension),))
        self.dimension = int(_meta(db, "dimension"))
        if dimension != self.dimension:
            raise self._mismatch("vectors", dimension)

    def _mismatch(self, what: str, dimension: int) -> StoreError:
        return StoreError(
            f"{self.location}: {what} have {dimension} dimensions, but this store holds "
            f"{self.dimension} ({self.model or 'unnamed model'}); embed with the store's model"
        )

    def staged(self, document_id: str, version: str) -> set[int]:
        """The ordinals of a version's chunks stored so far (staged or live)."""
        with self._database.read() as db:
            rows = db.execute(
                "SELECT ordinal FROM chunks WHERE document_id = %s AND version = %s",
                (document_id, version),
            ).fetchall()
        return {ordinal for (ordinal,) in rows}

    def publish(self, document: Document, version: str, total: int) -> bool:
        """Makes a staged version live and drops the previous one, in one transaction.

        Raises :class:`StoreError` unless chunks ``0 .. total-1`` are all staged.
        Returns ``False`` when this version was already live.  Publications of a
        store take turns (the revision's lock), so however many processes publish
        the same version, exactly one of them makes it live.
        """
        metadata = msgspec.msgpack.encode(document.metadata)
        # The matrix's lock is held through the commit: no refresh runs between the
        # commit and the matrix's update, so this object never reloads its own write.
        with self._refreshing:
            with self._database.transaction() as db:
                revision = self._lock_revision(db) + 1
                if _live_version(db, document.id) == version:
                    return False
                rows = db.execute(
                    "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id = c.id"
                    " WHERE c.document_id = %s AND c.version = %s AND c.ordinal < %s"
                    " ORDER BY c.id", (document.id, version, total),
                ).fetchall()
                self.dimension = int(_meta(db, "dimension"))  # maybe set by another process
                if len(rows) != total:
                    raise StoreError(
                        f"{document.id}: cannot publish version {version[:12]}: {len(rows)} of "
                        f"{total} chunks are stored; stage the missing ones first"
                    )
                removed = _drop(db, document.id, keep_version=version)
                db.execute("UPDATE chunks SET live = 1, published = %s"
                           " WHERE document_id = %s AND version = %s",
                           (revision, document.id, version))
                db.execute(_UPSERT_DOCUMENT, (
                    document.id, document.title, version, document.media_type, document.source,
                    metadata, total, time.time()))
                self._bump(db, revision)
            self._apply(revision, removed, [i for i, _ in rows],
                        vectors_from_blobs([v for _, v in rows], self.dimension))
        return True

    def delete_document(self, document_id: str) -> bool:
        """Removes a document and all its chunks; ``False`` if it was not stored."""
        with self._refreshing:
            with self._database.transaction() as db:
                revision = self._lock_revision(db) + 1
                removed = _drop(db, document_id, keep_version=None)
                deleted = db.execute("DELETE FROM documents WHERE id = %s",
                                     (document_id,)).rowcount
                if not (deleted or removed):
                    return False
                self._bump(db, revision)
            self._apply(revision, removed, [], np.zeros((0, self.dimension), dtype=np.float32))
        return True

    def _lock_revision(self, db: Session) -> int:
        """The current revision, locked until the transaction ends: writers take turns."""
        row = db.execute("SELECT value FROM meta WHERE key = %s"
                         f"{self._database.dialect.for_update}", (_REVISION,)).fetchone()
        return int(row[0])

    def _bump(self, db: Session, revision: int) -> None:
        db.execute("UPDATE meta SET value = %s WHERE key = %s", (str(revision), _REVISION))
        self._database.notify(db, self.channel, f"{revision} {self._sender}")  # sent on commit

    def _apply(self, revision: int, removed: list[int], ids: list[int], vectors: Vectors) -> None:
        """Brings the in-memory matrix up to ``revision`` if it was one behind (lock held)."""
        matrix = self._matrix
        if matrix is not None and matrix.revision == revision - 1:
            self._matrix = matrix.updated(removed, ids, vectors, revision)

    # -- reading -------------------------------------------------------------------

    def has_version(self, document_id: str, version: str) -> bool:
        """Whether this version of the document is live (published)."""
        with self._database.read() as db:
            return _live_version(db, document_id) == version

    def search(self, vector: Any, k: int = DEFAULT_K, min_score: float | None = None) -> list[Hit]:
        """The ``k`` live chunks most similar to ``vector``, best first.

        It sees every version published before it started, by any process, in
        one round trip when its matrix is current: the statement that fetches
        the hits also reads the store's revision; if the matrix was behind, it
        catches up (from a snapshot taken after the search began) and searches again.
        """
        if k <= 0:
            return []
        query = unit_rows(np.reshape(vector, (1, -1)))[0]
        matrix = self._matrix or self.refresh()
        best = self._top(matrix, query, k, min_score)
        revision, found = self._fetch(best)
        if revision > matrix.revision:
            matrix = self.refresh()
            best = self._top(matrix, query, k, min_score)
            _, found = self._fetch(best)
        return [hit_from_row(found[chunk_id], score)
                for chunk_id, score in best if chunk_id in found]

    def _top(self, matrix: SearchMatrix, query: Vectors, k: int,
             min_score: float | None) -> list[tuple[int, float]]:
        if not len(matrix.ids):
            return []
        if len(query) != matrix.vectors.shape[1]:
            raise self._mismatch("queries", len(query))
        return matrix.top(query, k, min_score)

    def _fetch(self, best: list[tuple[int, float]]) -> tuple[int, dict[int, tuple[Any, ...]]]:
        """The store's revision and the rows of these chunks, in one statement."""
        with self._database.read() as db:
            if not best:
                return _revision(db), {}
            rows = db.execute(
                "SELECT m.value, c.id, c.document_id, d.title, c.ordinal, c.heading, c.text,"
                " c.start, c.stop FROM meta m LEFT JOIN chunks c ON c.id IN"
                f" ({', '.join(['%s'] * len(best))}) LEFT JOIN documents d"
                " ON d.id = c.document_id WHERE m.key = %s",
                [*(chunk_id for chunk_id, _ in best), _REVISION],
            ).fetchall()
        return int(rows[0][0]), {row[1]: row[1:] for row in rows if row[1] is not None}

    @property
    def loaded_revision(self) -> int | None:
        """The revision of the matrix in memory; ``None`` before the first search."""
        matrix = self._matrix
        return None if matrix is None else matrix.revision

    def current_matrix(self) -> SearchMatrix:
        """The matrix of live vectors, at least as recent as the store's revision now."""
        with self._database.read() as db:
            revision = _revision(db)
        matrix = self._matrix
        if matrix is not None and matrix.revision >= revision:
            return matrix
        return self.refresh()

    def refresh(self) -> SearchMatrix:
        """Catches the matrix up with the database: only what changed, once it is loaded.

        Called by searches that find it behind, and, on PostgreSQL, as soon as
        another process publishes (``NOTIFY`` on the store's channel), so that
        searches rarely wait for it.
        """
        with self._refreshing, self._database.snapshot() as db:
            revision = _revision(db)
            matrix = self._matrix
            if matrix is not None and matrix.revision >= revision:
                return matrix
            self.dimension = int(_meta(db, "dimension"))
            if matrix is None:
                rows = db.execute(f"{_LIVE_VECTORS} ORDER BY c.id").fetchall()
                matrix = SearchMatrix(np.asarray([i for i, _ in rows], dtype=np.int64),
                                      vectors_from_blobs([v for _, v in rows], self.dimension),
                                      revision)
            else:
                live = np.asarray([i for (i,) in db.execute(
                    "SELECT id FROM chunks WHERE live = 1")], dtype=np.int64)
                rows = db.execute(f"{_LIVE_VECTORS} AND c.published > %s ORDER BY c.id",
                                  (matrix.revision,)).fetchall()
                matrix = matrix.keeping(live, [i for i, _ in rows], vectors_from_blobs(
                    [v for _, v in rows], self.dimension), revision)
            self._matrix = matrix
        if self._listener is None:
            self._listener = self._database.listen(self.channel, self._notified, self._caught_up)
        return matrix

    def _notified(self, payload: str) -> None:
        revision, _, sender = payload.partition(" ")
        matrix = self._matrix
        if sender != self._sender and (matrix is None or matrix.revision < int(revision)):
            self.refresh()

    def _caught_up(self) -> None:
        """(Re)connected to notifications: whatever was published meanwhile, load it now."""
        self.current_matrix()

    def get_document(self, document_id: str) -> StoredDocument | None:
        with self._database.read() as db:
            row = db.execute("SELECT id, title, version, media_type, source, metadata, chunks,"
                             " added FROM documents WHERE id = %s", (document_id,)).fetchone()
        return None if row is None else stored_from_row(row)

    def documents(self) -> list[StoredDocument]:
        with self._database.read() as db:
            rows = db.execute("SELECT id, title, version, media_type, source, metadata, chunks,"
                              " added FROM documents ORDER BY id").fetchall()
        return [stored_from_row(row) for row in rows]

    def chunks(self, document_id: str) -> list[Chunk]:
        """The live chunks of a document, in order."""
        with self._database.read() as db:
            rows = db.execute(
                "SELECT document_id, ordinal, text, start, stop, title, heading FROM chunks"
                " WHERE document_id = %s AND live = 1 ORDER BY ordinal",
                (document_id,),
            ).fetchall()
        return [Chunk(*row) for row in rows]

    def stats(self) -> StoreStats:
        with self._database.snapshot() as db:
            documents = db.execute("SELECT count(*) FROM documents").fetchone()[0]
            live, staged = db.execute(
                "SELECT coalesce(sum(live), 0), coalesce(sum(1 - live), 0) FROM chunks"
            ).fetchone()
            revision = _revision(db)
        return StoreStats(str(self.location), self.model, self.dimension, documents, int(live),
                          int(staged), revision)

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops listening and closes every connection; the store must not be used afterwards."""
        if self._listener is not None:
            self._listener.close()
        with self._refreshing:
            self._matrix = None
        self._database.close()


def _meta(db: Session, key: str) -> str:
    return str(db.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()[0])


def _revision(db: Session) -> int:
    return int(_meta(db, _REVISION))


def _live_version(db: Session, document_id: str) -> str | None:
    row = db.execute("SELECT version FROM documents WHERE id = %s", (document_id,)).fetchone()
    return None if row is None else str(row[0])


def _drop(db: Session, document_id: str, keep_version: str | None) -> list[int]:
    """Deletes the document's chunks of other versions; returns the live ones deleted."""
    rows = db.execute(
        "DELETE FROM chunks WHERE document_id = %s AND (CAST(%s AS TEXT) IS NULL"
        " OR version <> %s) RETURNING id, live",
        (document_id, keep_version, keep_version),
    ).fetchall()
    db.executemany("DELETE FROM embeddings WHERE chunk_id = %s", [(i,) for i, _ in rows])
    return [chunk_id for chunk_id, live in rows if live]
