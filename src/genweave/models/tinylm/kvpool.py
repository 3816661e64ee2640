"""A pool of KV-cache rows shared by all live sequences of one model.

Continuous batching joins and drops sequences at every step. If each
sequence kept its cache in its own arrays, every step would first copy all
of them into one padded batch array (tens of megabytes at 32 sequences).
Instead each sequence owns one *row* of a pool array: a batched step writes
its new keys and values in place and attends over a slice of the pool, with
no copy. Rows are reused lowest-first so live sequences stay packed at the
front of the pool, which keeps that slice short.

A sequence gives its row back when it is closed or garbage-collected. The
release may run in a finalizer on any thread, so it only appends to a deque
(atomic in CPython) that the owner drains on its next allocation.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np

from .layers import F32

__all__ = ["KVPool"]

INITIAL_ROWS = 8


class KVPool:
    """Keys and values for ``capacity`` sequences, all layers.

    ``keys[layer]`` has shape ``(capacity, heads, context, head_dim)``; a
    token at position ``p`` lives in slot ``p % context``, so a sequence that
    outgrows its context overwrites its oldest entries (a sliding window,
    which rotary positions make valid without recomputation).

    >>> pool = KVPool(layers=2, heads=4, context=16, head_dim=8)
    >>> row = pool.acquire()
    >>> pool.keys.shape
    (2, 8, 4, 16, 8)
    >>> pool.release(row)
    """

    def __init__(self, layers: int, heads: int, context: int, head_dim: int) -> None:
        self._shape = (layers, 0, heads, context, head_dim)
        self.keys: F32 = np.zeros(self._shape, dtype=np.float32)
        self.values: F32 = np.zeros(self._shape, dtype=np.float32)
        self._free: list[int] = []
        self._released: deque[int] = deque()
        self._grow(INITIAL_ROWS)

    @property
    def capacity(self) -> int:
        return int(self.keys.shape[1])

    @property
    def in_use(self) -> int:
        return self.capacity - len(self._free) - len(self._released)

    def acquire(self) -> int:
        while self._released:
            heapq.heappush(self._free, self._released.popleft())
        if not self._free:
            self._grow(self.capacity)
        return heapq.heappop(self._free)

    def release(self, row: int) -> None:
        self._released.append(row)

    def _grow(self, extra: int) -> None:
        """Add ``extra`` rows; existing rows keep their index and contents."""
        old = self.capacity
        layers, _, heads, context, head_dim = self._shape
        shape = (layers, old + extra, heads, context, head_dim)
        for name in ("keys", "values"):
            grown = np.zeros(shape, dtype=np.float32)
            grown[:, :old] = getattr(self, name)
            setattr(self, name, grown)
        for row in range(old, old + extra):
            heapq.heappush(self._free, row)
