"""One generation stream: its tokens, its KV-cache row, its sampling settings."""

from __future__ import annotations

import weakref
from types import TracebackType

import numpy as np

from .kvpool import KVPool

__all__ = ["Sequence"]


class Sequence:
    """The state a scheduler keeps per request, created by ``TinyLM.start``.

    ``tokens`` is the kept prompt (after left truncation) followed by every
    generated token; the last of them is *pending*: sampled but not yet fed
    to the model, which the next step does. The cache row is returned to the
    pool by :meth:`close` (or a ``with`` block), or when the sequence is
    garbage-collected.

    >>> from genweave.models.tinylm import TinyLM
    >>> lm = TinyLM.load()
    >>> with lm.start(lm.encode("The "), seed=1) as seq:
    ...     _ = lm.step([seq])
    ...     len(seq.generated)
    1
    """

    def __init__(
        self,
        pool: KVPool,
        tokens: list[int],
        *,
        temperature: float,
        top_p: float,
        rng: np.random.Generator,
    ) -> None:
        self.tokens = tokens
        self.prompt_length = len(tokens)
        self.temperature = temperature
        self.top_p = top_p
        self.rng = rng
        self.pool = pool
        self.row = pool.acquire()
        self._release = weakref.finalize(self, pool.release, self.row)

    @property
    def position(self) -> int:
        """Absolute position of the pending token (it grows past the context
        length; the cache then holds only the latest context's worth)."""
        return len(self.tokens) - 1

    @property
    def generated(self) -> list[int]:
        return self.tokens[self.prompt_length :]

    @property
    def closed(self) -> bool:
        return not self._release.alive

    def close(self) -> None:
        """Give the cache row back now; safe to call more than once."""
        self._release()

    def __enter__(self) -> Sequence:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
