"""The live vectors in memory, one row per chunk, searched by exact cosine similarity.

Immutable: an update builds a new matrix and the store swaps it in, so a search
that is running keeps a consistent one (ids and rows always agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from genweave.app.store.records import StoreError

__all__ = ["SearchMatrix", "Vectors", "unit_rows", "vectors_from_blobs"]

Vectors = NDArray[np.float32]


class SearchMatrix:
    """The rows of the live chunks at one revision of the store, with each row's chunk id."""

    __slots__ = ("ids", "revision", "vectors")

    def __init__(self, ids: NDArray[np.int64], vectors: Vectors, revision: int) -> None:
        self.ids, self.vectors, self.revision = ids, vectors, revision

    def updated(self, removed: Sequence[int] | NDArray[np.int64], ids: Sequence[int],
                vectors: Vectors, revision: int) -> SearchMatrix:
        """This matrix without the ``removed`` chunks and with the new rows, at ``revision``."""
        keep = ~np.isin(self.ids, np.asarray(removed, dtype=np.int64))
        kept = self.vectors[keep]
        # Either side may be empty, and then has no width (an empty store's matrix has none).
        if len(kept) and len(vectors):
            rows = np.concatenate([kept, vectors])
        else:
            rows = vectors if len(vectors) else kept
        return SearchMatrix(np.concatenate([self.ids[keep], np.asarray(ids, dtype=np.int64)]),
                            rows, revision)

    def keeping(self, live: NDArray[np.int64], ids: Sequence[int], vectors: Vectors,
                revision: int) -> SearchMatrix:
        """This matrix with only the chunks still ``live``, plus the new rows."""
        return self.updated(self.ids[~np.isin(self.ids, live)], ids, vectors, revision)

    def top(self, query: Vectors, k: int, min_score: float | None) -> list[tuple[int, float]]:
        scores = self.vectors @ query
        if k < len(scores):
            best = np.argpartition(-scores, k)[:k]
            best = best[np.argsort(-scores[best], kind="stable")]
        else:
            best = np.argsort(-scores, kind="stable")
        floor = -np.inf if min_score is None else min_score
        return [(int(self.ids[i]), float(scores[i])) for i in best if scores[i] >= floor]


def unit_rows(vectors: Any) -> Vectors:
    """The vectors as a C-contiguous float32 matrix of unit rows (zero rows stay zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise StoreError(f"expected a matrix of vectors, one row per chunk; got {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.ascontiguousarray(array / np.where(norms == 0, 1, norms), dtype=np.float32)


def vectors_from_blobs(blobs: Sequence[bytes], dimension: int) -> Vectors:
    """Rows stored as float32 bytes, back into a matrix."""
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)
