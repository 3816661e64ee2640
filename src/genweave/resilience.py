"""Call policies: how long to wait, and when and how to try again.

Retries are only ever automatic where they cannot duplicate work: a call that
was refused before it started (no replica, connect failure, draining callee),
or a call to a method declared ``idempotent`` whose connection broke mid-call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from genweave.errors import CallError, ConnectionLost, Unavailable

__all__ = ["RetryPolicy", "effective_timeout"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff."""

    attempts: int = 3
    base_delay: float = 0.02
    max_delay: float = 0.5

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def should_retry(self, error: CallError, attempt: int, idempotent: bool) -> bool:
        if attempt >= self.attempts:
            return False
        if isinstance(error, ConnectionLost):
            return idempotent
        return isinstance(error, Unavailable)


def effective_timeout(method_timeout: float | None, remaining: float | None) -> float | None:
    """The tighter of a method's own timeout and the caller's remaining deadline."""
    if method_timeout is None:
        return remaining
    if remaining is None:
        return method_timeout
    return min(method_timeout, remaining)
