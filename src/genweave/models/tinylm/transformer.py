"""The decoder maths in numpy: prefill, one batched decode step, and scoring.

Kept apart from :mod:`.model` so the API there (sequences, sampling,
locking) reads without the linear algebra, and this file reads as the
numpy twin of ``training/train_tinylm.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .kvpool import KVPool
from .layers import F32, apply_rope, gelu, layer_norm, rope_tables, softmax
from .weights import ModelConfig, Params

__all__ = ["Transformer"]

I64 = NDArray[np.int64]

# A batch whose pool rows are spread wider than this multiple of its size
# gathers its rows (one copy) instead of computing attention over the gaps.
DENSE_SPREAD = 2


@dataclass(frozen=True)
class _Block:
    ln1_w: F32
    ln1_b: F32
    qkv: F32
    out: F32
    ln2_w: F32
    ln2_b: F32
    up: F32
    down: F32


class Transformer:
    """Weights plus the three forward passes a server needs.

    >>> from genweave.models.tinylm.weights import load_weights, DEFAULT_WEIGHTS
    >>> config, params, _ = load_weights(DEFAULT_WEIGHTS)
    >>> net = Transformer(config, params)
    >>> net.score(np.array([72, 105])).shape
    (2, 257)
    """

    def __init__(self, config: ModelConfig, params: Params) -> None:
        self.config = config
        self._emb = params["tok_emb"]
        self._emb_t = np.ascontiguousarray(self._emb.T)
        self._ln_f = (params["ln_f.w"], params["ln_f.b"])
        self._blocks = [
            _Block(
                *(
                    params[f"blocks.{i}.{name}"]
                    for name in (
                        "ln1.w",
                        "ln1.b",
                        "attn.qkv",
                        "attn.out",
                        "ln2.w",
                        "ln2.b",
                        "mlp.up",
                        "mlp.down",
                    )
                )
            )
            for i in range(config.n_layers)
        ]
        self._scale = np.float32(1.0 / np.sqrt(config.head_dim))
        ctx = config.context_length
        self._causal = np.tril(np.ones((ctx, ctx), dtype=bool))

    def new_pool(self) -> KVPool:
        c = self.config
        return KVPool(c.n_layers, c.n_heads, c.context_length, c.head_dim)

    def prefill(self, pool: KVPool, row: int, tokens: I64) -> None:
        """Fill ``row`` of the pool with keys and values for ``tokens`` at
        positions 0.. (at most the context length)."""
        if len(tokens):
            self._full(tokens, pool, row)

    def score(self, tokens: I64) -> F32:
        """Next-token logits after each of ``tokens`` (at most one context)."""
        return self._logits(self._full(tokens, None, 0))

    def decode(self, pool: KVPool, rows: I64, tokens: I64, positions: I64) -> F32:
        """Feed one token per row at its position; return next-token logits.

        Each row's cache holds positions ``< positions[i]`` (the last
        ``context`` of them); the new key and value are written in place.
        """
        c = self.config
        batch = len(rows)
        lengths = np.minimum(positions + 1, c.context_length)
        span = int(lengths.max())
        spread = int(rows.max()) + 1
        dense = spread <= DENSE_SPREAD * batch
        if dense:
            # Rows not in this batch are computed too (cheaper than copying
            # the batch's rows together); give them one valid slot so their
            # softmax stays finite, then drop their results.
            all_lengths = np.ones(spread, dtype=np.int64)
            all_lengths[rows] = lengths
            valid = np.arange(span)[None, None, :] < all_lengths[:, None, None]
        else:
            valid = np.arange(span)[None, None, :] < lengths[:, None, None]
        cos, sin = rope_tables(positions, c.head_dim, c.rope_base)
        slots = positions % c.context_length
        x = self._emb[tokens]
        for layer, blk in enumerate(self._blocks):
            qkv = (layer_norm(x, blk.ln1_w, blk.ln1_b, c.layer_norm_eps) @ blk.qkv).reshape(
                batch, 3, c.n_heads, c.head_dim
            )
            q = apply_rope(qkv[:, 0], cos, sin)
            keys, values = pool.keys[layer], pool.values[layer]
            keys[rows, :, slots] = apply_rope(qkv[:, 1], cos, sin)
            values[rows, :, slots] = qkv[:, 2]
            if dense:
                q_all = np.zeros((spread, c.n_heads, c.head_dim), dtype=np.float32)
                q_all[rows] = q
                att = self._attend(
                    q_all, keys[:spread, :, :span], values[:spread, :, :span], valid
                )[rows]
            else:
                att = self._attend(q, keys[rows, :, :span], values[rows, :, :span], valid)
            x = x + att.reshape(batch, c.d_model) @ blk.out
            x = x + self._mlp(x, blk)
        return self._logits(x)

    def _attend(self, q: F32, keys: F32, values: F32, valid: NDArray[np.bool_]) -> F32:
        """One query per row against that row's cached keys: (R, H, hd)."""
        scores = np.matmul(q[:, :, None, :], keys.transpose(0, 1, 3, 2))[:, :, 0, :]
        probs = softmax(np.where(valid, scores * self._scale, -np.inf).astype(np.float32))
        return np.matmul(probs[:, :, None, :], values)[:, :, 0, :]  # type: ignore[no-any-return]

    def _full(self, tokens: I64, pool: KVPool | None, row: int) -> F32:
        """Causal forward over a fresh sequence; optionally cache its K/V."""
        c = self.config
        n = len(tokens)
        cos, sin = rope_tables(np.arange(n), c.head_dim, c.rope_base)
        mask = self._causal[:n, :n][None]
        x = self._emb[tokens]
        for layer, blk in enumerate(self._blocks):
            qkv = (layer_norm(x, blk.ln1_w, blk.ln1_b, c.layer_norm_eps) @ blk.qkv).reshape(
                n, 3, c.n_heads, c.head_dim
            )
            q = apply_rope(qkv[:, 0], cos, sin).transpose(1, 0, 2)
            k = apply_rope(qkv[:, 1], cos, sin).transpose(1, 0, 2)
            v = qkv[:, 2].transpose(1, 0, 2)
            if pool is not None:
                pool.keys[layer, row, :, :n] = k
                pool.values[layer, row, :, :n] = v
            scores = np.where(mask, (q @ k.transpose(0, 2, 1)) * self._scale, -np.inf)
            att: F32 = (softmax(scores.astype(np.float32)) @ v).transpose(1, 0, 2)
            x = x + att.reshape(n, c.d_model) @ blk.out
            x = x + self._mlp(x, blk)
        return x

    def _mlp(self, x: F32, blk: _Block) -> F32:
        h = layer_norm(x, blk.ln2_w, blk.ln2_b, self.config.layer_norm_eps)
        return gelu(h @ blk.up) @ blk.down

    def _logits(self, x: F32) -> F32:
        h = layer_norm(x, *self._ln_f, self.config.layer_norm_eps)
        return h @ self._emb_t
