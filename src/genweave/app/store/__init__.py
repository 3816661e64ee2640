"""The vector store: documents, their chunks and embeddings in a database; search in numpy.

Exact search is the right default at this scale: a corpus of 10^5 chunks of
384 float32 is 150 MB and one matrix-vector product (milliseconds); no index to
tune, no approximation to explain.  The matrix of live vectors is loaded on the
first search and kept in sync by every write through this object; a write by
another process or object bumps a revision number in the database, and the
next search catches up, loading only the chunks published since.

Documents change.  Each version's chunks are written *staged* (invisible to
search), possibly over several calls (the ingestor stores them as they are
embedded, so a crash loses nothing), and then *published* in one transaction
that also deletes the previous version's chunks: a search sees the old
version or the new one, never a mixture and never a duplicate.

Where: a SQLite file (the default; the processes of one host share it) or a
PostgreSQL database named by a ``postgresql://`` URL, shared by replicas on
any number of hosts.  Every search reads the store's revision first, so it sees
every version published before it started, whichever process published it; on
PostgreSQL a publication also notifies every store object listening on the
store's channel, which then catches up in the background (docs/storage.md).

Threads: the database hands each thread its own connection; the in-memory
matrix is immutable and swapped under a lock.  All methods are synchronous and
short except a first search on a big store (it loads the matrix); async
callers may call them directly or through ``asyncio.to_thread``.

``records.py`` holds what it returns, ``matrix.py`` the search, ``schema.py``
the versioned tables, ``vector_store.py`` the store.

>>> store = VectorStore("index.db", model="all-MiniLM-L6-v2")
>>> store.add_document(document, chunks, encoder.encode([c.embedding_text() for c in chunks]))
True
>>> [hit.title for hit in store.search(encoder.encode(["while loops"])[0], k=3)]
['The "while" statement', ...]
"""

from genweave.app.store.records import Hit, StoredDocument, StoreError, StoreStats
from genweave.app.store.vector_store import DEFAULT_K, VectorStore

__all__ = ["DEFAULT_K", "Hit", "StoreError", "StoreStats", "StoredDocument", "VectorStore"]
