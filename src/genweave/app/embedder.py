"""The Embedder: sentence embeddings, with concurrent requests batched together."""

from __future__ import annotations

import asyncio
from typing import Final

import msgspec
import numpy as np

from genweave.app.types import EmbeddingResult
from genweave.component import component, method
from genweave.models.batching import DynamicBatcher
from genweave.models.embedding.sentence import SentenceEncoder

__all__ = ["Embedder", "EmbedderSettings"]

MAX_TEXTS: Final = 512


class EmbedderSettings(msgspec.Struct, frozen=True):
    path: str | None = None
    """A local sentence-transformers directory; None: the built-in all-MiniLM-L6-v2."""
    max_batch: int = 64
    """Requests merged into one forward pass."""
    max_wait: float = 0.002
    """Seconds the first request of a batch waits for others to join it."""
    threads: int | None = None


@component(role="inference", config=EmbedderSettings)
class Embedder:
    """Embeds texts into unit vectors; one request's texts stay in one batch."""

    config: EmbedderSettings

    async def on_start(self) -> None:
        self._encoder = await asyncio.to_thread(SentenceEncoder.load, self.config.path,
                                                threads=self.config.threads)
        self._batcher: DynamicBatcher[list[str], np.ndarray] = DynamicBatcher(
            self._encode_batch, max_batch=self.config.max_batch, max_wait=self.config.max_wait,
            name="embedder")

    async def on_stop(self) -> None:
        await self._batcher.close()

    def _encode_batch(self, requests: list[list[str]]) -> list[np.ndarray]:
        flat = [text for texts in requests for text in texts]
        vectors = self._encoder.encode(flat)
        out, start = [], 0
        for texts in requests:
            out.append(vectors[start : start + len(texts)])
            start += len(texts)
        return out

    @method(idempotent=True, timeout=60.0)
    async def embed(self, texts: list[str]) -> EmbeddingResult:
        if not texts or len(texts) > MAX_TEXTS:
            raise ValueError(f"embed takes 1 to {MAX_TEXTS} texts, got {len(texts)}")
        vectors = await self._batcher.submit(texts)
        tokens = sum(self._encoder.count_tokens(texts))
        return EmbeddingResult(vectors, tokens, self._encoder.name)

    @method(idempotent=True)
    async def model_id(self) -> str:
        return self._encoder.name

    @method(idempotent=True)
    async def dimension(self) -> int:
        return self._encoder.dimension
