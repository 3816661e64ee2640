"""The numpy building blocks of the TinyLM forward pass.

Each function is the float32 twin of a torch call in
``training/train_tinylm.py`` (LayerNorm, tanh-GELU, rotary embedding,
softmax), so the shipped weights mean the same thing here as they did in
training.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["F32", "apply_rope", "gelu", "layer_norm", "rope_tables", "softmax"]

F32 = NDArray[np.float32]

_GELU_C = np.float32(np.sqrt(2.0 / np.pi))
_GELU_CUBIC = np.float32(0.044715)
_HALF, _ONE = np.float32(0.5), np.float32(1.0)


def layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias  # type: ignore[no-any-return]


def gelu(x: F32) -> F32:
    curve: F32 = np.tanh(_GELU_C * (x + _GELU_CUBIC * x * x * x))
    return _HALF * x * (_ONE + curve)


def softmax(x: F32, axis: int = -1) -> F32:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)  # type: ignore[no-any-return]


def rope_tables(positions: NDArray[np.int64], head_dim: int, base: float) -> tuple[F32, F32]:
    """Cosines and sines for ``positions``, shaped ``(n, 1, head_dim // 2)`` to
    broadcast over the heads of an ``(n, heads, head_dim)`` array.

    Angles are formed in float64: positions grow without bound once a
    sequence slides past its context, and float32 would lose their phase.
    """
    half = head_dim // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) / half)
    angles = positions.astype(np.float64)[:, None, None] * inv_freq[None, None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def apply_rope(x: F32, cos: F32, sin: F32) -> F32:
    """Rotate query/key pairs by their position (the rotate-half layout)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
