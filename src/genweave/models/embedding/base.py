"""The interface every embedding backend implements.

Retrieval compares vectors by their dot product, so every backend returns
unit-length float32 rows: the dot product *is* the cosine similarity, and a
store never needs to know which model produced its vectors beyond their size.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["Embeddings", "Encoder"]

Embeddings: TypeAlias = NDArray[np.float32]
"""Shape ``(n, dimension)``, float32, each row of length 1."""


class Encoder(abc.ABC):
    """Turns texts into unit vectors whose dot products are their cosine similarities.

    Subclass it for a new backend; :class:`~genweave.models.embedding.SentenceEncoder`
    is the built-in one.

    >>> class Constant(Encoder):
    ...     name, dimension, max_tokens = "constant", 2, 512
    ...     def encode(self, texts):
    ...         return np.tile(np.float32([1, 0]), (len(texts), 1))
    ...     def count_tokens(self, texts):
    ...         return [len(t.split()) for t in texts]
    """

    name: str
    """Identifies the model; a vector store refuses vectors from another one."""
    dimension: int
    max_tokens: int
    """The longest input, in tokens, that the model reads; the rest is cut off."""

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> Embeddings:
        """One unit-length row per text, in order; ``(0, dimension)`` for no texts."""

    @abc.abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the model would see for each text, before truncation."""
