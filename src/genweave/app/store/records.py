"""What the vector store hands out: search hits, stored documents, statistics; its error."""

from __future__ import annotations

from typing import Any

import msgspec

from genweave.errors import GenweaveError

__all__ = ["Hit", "StoreError", "StoreStats", "StoredDocument", "hit_from_row",
           "stored_from_row"]


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
    """Where the store is: its file, or its PostgreSQL URL without the password."""
    model: str
    dimension: int
    documents: int
    chunks: int
    staged: int
    """Chunks of versions not yet published (an ingestion in progress or interrupted)."""
    revision: int


def hit_from_row(row: tuple[Any, ...], score: float) -> Hit:
    chunk_id, document_id, title, ordinal, heading, text, start, end = row
    return Hit(chunk_id, document_id, title, ordinal, heading, text, start, end, score)


def stored_from_row(row: tuple[Any, ...]) -> StoredDocument:
    id, title, version, media_type, source, metadata, chunks, added = row
    return StoredDocument(id, title, version, media_type, source,
                          msgspec.msgpack.decode(metadata, type=dict[str, str]), chunks, added)
