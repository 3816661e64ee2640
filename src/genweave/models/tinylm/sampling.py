"""Choosing the next token for every row of a batch at once.

Each row has its own temperature, nucleus (top-p) cut-off and random
generator, because in a continuously batched server each row is a different
request with its own settings and seed. Every row draws exactly one number
from its own generator per token, so a request's output depends on its seed
alone, never on which other requests shared its batch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .layers import F32

__all__ = ["sample"]


def sample(
    logits: F32,
    temperatures: NDArray[np.float64],
    top_ps: NDArray[np.float64],
    rngs: list[np.random.Generator],
) -> list[int]:
    """Return one token id per row of ``logits`` (shape ``(rows, vocab)``).

    A temperature of 0 (or less) means greedy decoding and draws nothing.

    >>> logits = np.array([[0.0, 5.0, 1.0]], dtype=np.float32)
    >>> sample(logits, np.array([0.0]), np.array([1.0]), [np.random.default_rng(0)])
    [1]
    """
    chosen = logits.argmax(axis=-1)
    hot = np.flatnonzero(temperatures > 0)
    if hot.size:
        scaled = logits[hot].astype(np.float64) / temperatures[hot, None]
        probs = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        nucleus = np.flatnonzero(top_ps[hot] < 1.0)
        if nucleus.size:
            probs[nucleus] = _nucleus(probs[nucleus], top_ps[hot][nucleus])
        # Sampling in vocabulary order, whatever the other rows need, keeps
        # a row's draw independent of its batch.
        cdf = np.cumsum(probs, axis=-1)
        draws = np.array([rngs[i].random() for i in hot]) * cdf[:, -1]
        chosen[hot] = np.minimum((cdf < draws[:, None]).sum(axis=-1), logits.shape[-1] - 1)
    return [int(t) for t in chosen]


def _nucleus(probs: NDArray[np.float64], top_ps: NDArray[np.float64]) -> NDArray[np.float64]:
    """Zero all but the smallest most-likely set of tokens whose mass reaches
    top_p (always at least one token); rows stay in vocabulary order."""
    order = np.argsort(-probs, axis=-1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=-1)
    ranked = np.where(np.cumsum(ranked, axis=-1) - ranked < top_ps[:, None], ranked, 0.0)
    kept = np.zeros_like(probs)
    np.put_along_axis(kept, order, ranked, axis=-1)
    return kept
