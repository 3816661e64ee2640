"""Sentence embeddings: texts in, unit-length float32 vectors out.

>>> from genweave.models.embedding import SentenceEncoder
>>> encoder = SentenceEncoder.load()            # all-MiniLM-L6-v2, no download
>>> vectors = encoder.encode(["The while statement", "A for loop"])  # (2, 384)
"""

from __future__ import annotations

from .base import Embeddings, Encoder
from .errors import EmbeddingError, MissingDependency, ModelNotFound
from .sentence import DEFAULT_MODEL_NAME, SentenceEncoder, default_model_path

__all__ = [
    "DEFAULT_MODEL_NAME",
    "EmbeddingError",
    "Embeddings",
    "Encoder",
    "MissingDependency",
    "ModelNotFound",
    "SentenceEncoder",
    "default_model_path",
]
