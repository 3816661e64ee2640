"""The Retriever: the passages most similar to a question, from the vector store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

import msgspec

from genweave._storage import Location, resolve_location
from genweave.app.embedder import Embedder
from genweave.app.store import VectorStore
from genweave.app.types import Passage
from genweave.component import Ref, component, method

__all__ = ["Retriever", "StoreSettings"]

DEFAULT_DATA_DIR: Final = ".genweave-data"
STORE_FILE: Final = "index.db"
MAX_K: Final = 50


class StoreSettings(msgspec.Struct, frozen=True):
    """Where the document store lives; the Retriever and Ingestor must agree.

    ``database_url`` (e.g. ``postgresql://genweave@db/genweave``) puts it in
    PostgreSQL, where replicas on any host share it; empty means the
    ``GENWEAVE_DATABASE_URL`` environment variable, and if that is empty too,
    a SQLite file under ``data_dir`` (one host only).  docs/storage.md says
    which to choose.
    """

    data_dir: str = DEFAULT_DATA_DIR
    database_url: str = ""
    min_score: float | None = None

    @property
    def store_location(self) -> Location:
        return resolve_location(self.database_url, default=Path(self.data_dir) / STORE_FILE)


@component(config=StoreSettings)
class Retriever:
    """Embeds the question through the Embedder, then searches the store.

    The store is shared with the Ingestor (possibly in other processes, on
    other hosts with PostgreSQL); a search sees every document version
    published before it started.
    """

    config: StoreSettings
    embedder: Ref[Embedder]

    async def on_start(self) -> None:
        self._store = VectorStore(self.config.store_location)

    async def on_stop(self) -> None:
        self._store.close()

    @method(idempotent=True, timeout=10.0)
    async def search(self, query: str, k: int = 4) -> list[Passage]:
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
        vector = (await self.embedder.embed([query])).vectors[0]
        hits = await asyncio.to_thread(self._store.search, vector, k, self.config.min_score)
        return [Passage(h.document_id, h.title, h.ordinal, h.text, h.score) for h in hits]

    @method(idempotent=True)
    async def document_count(self) -> int:
        return (await asyncio.to_thread(self._store.stats)).documents
