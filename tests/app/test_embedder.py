"""The Embedder component: vectors, token counts and the model's name for each request, with
concurrent requests sharing batches but never each other's rows; bad input and bad settings
say what to do.

The encoder itself (similarities, tokenisation, loading) is tested in
``tests/models/test_embedding.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from genweave.app.embedder import MAX_TEXTS, Embedder, EmbedderSettings
from genweave.models.batching import BatcherClosed
from genweave.models.embedding import DEFAULT_MODEL_NAME, ModelNotFound

DIMENSION = 384
TEXTS = ["How do I open a file?", "The with statement", "A generator yields values.",
         "Dictionaries map keys to values.", "x"]


async def started(settings: EmbedderSettings) -> Embedder:
    embedder = Embedder()
    embedder.config = settings
    await embedder.on_start()
    return embedder


@pytest_asyncio.fixture(scope="module")
async def embedder() -> AsyncIterator[Embedder]:
    running = await started(EmbedderSettings(max_batch=4, max_wait=0.01))
    yield running
    await running.on_stop()


async def test_each_text_gets_a_unit_vector_in_order_with_tokens_and_model(
    embedder: Embedder,
) -> None:
    result = await embedder.embed(TEXTS[:3])
    assert result.vectors.shape == (3, DIMENSION) and result.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    assert result.model == DEFAULT_MODEL_NAME
    one_by_one = [await embedder.embed([text]) for text in TEXTS[:3]]
    assert result.tokens == sum(r.tokens for r in one_by_one) > 3
    for row, alone in zip(result.vectors, one_by_one, strict=True):
        np.testing.assert_allclose(row, alone.vectors[0], atol=1e-5)


async def test_concurrent_requests_share_batches_but_keep_their_own_rows(
    embedder: Embedder,
) -> None:
    requests = [TEXTS[i:i + size] for i, size in [(0, 2), (1, 4), (4, 1), (0, 5), (2, 1),
                                                  (3, 2)]]
    alone = [await embedder.embed(texts) for texts in requests]
    together = await asyncio.gather(*(embedder.embed(texts) for texts in requests))
    for mine, expected in zip(together, alone, strict=True):
        assert mine.vectors.shape == expected.vectors.shape
        np.testing.assert_allclose(mine.vectors, expected.vectors, atol=1e-5)
        assert mine.tokens == expected.tokens


@pytest.mark.parametrize("count", [0, MAX_TEXTS + 1])
async def test_too_few_or_too_many_texts_are_refused_saying_the_limits(
    embedder: Embedder, count: int,
) -> None:
    with pytest.raises(ValueError) as caught:
        await embedder.embed(["text"] * count)
    assert str(caught.value) == f"embed takes 1 to {MAX_TEXTS} texts, got {count}"


async def test_the_model_is_named_and_sized(embedder: Embedder) -> None:
    assert await embedder.model_id() == DEFAULT_MODEL_NAME
    assert await embedder.dimension() == DIMENSION


async def test_a_missing_model_directory_fails_the_start_saying_what_to_pass() -> None:
    with pytest.raises(ModelNotFound) as caught:
        await started(EmbedderSettings(path="/nowhere/minilm"))
    assert str(caught.value).startswith("/nowhere/minilm: not a model directory")
    assert "or None for the built-in all-MiniLM-L6-v2" in str(caught.value)


async def test_a_stopped_embedder_refuses_new_requests() -> None:
    stopping = await started(EmbedderSettings())
    await stopping.on_stop()
    with pytest.raises(BatcherClosed, match="embedder: closed"):
        await stopping.embed(["too late"])
