"""Log lines at a bounded rate: a flood of bad connections must not become a flood of lines.

Every malformed frame or refused peer used to log one line; a hostile client
could then fill a disk or hide what matters.  ``RateLimitedLog`` writes at most
``burst`` lines per ``period`` seconds and, once lines flow again, says how many
it left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

__all__ = ["RateLimitedLog"]

DEFAULT_BURST: Final = 10
DEFAULT_PERIOD: Final = 10.0


class RateLimitedLog:
    """A logger's ``warning`` that writes at most ``burst`` lines per ``period`` seconds.

    Example::

        bad_frames = RateLimitedLog(logging.getLogger("genweave.transport"))
        bad_frames.warning("closing connection from %s: %s", peer, error)
    """

    def __init__(self, logger: logging.Logger, burst: int = DEFAULT_BURST,
                 period: float = DEFAULT_PERIOD,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.burst = burst
        self.period = period
        self._clock = clock
        self._window_start = -period
        self._written = 0
        self.suppressed = 0
        """Lines left out since the last one written."""

    def warning(self, message: str, *args: object) -> bool:
        """Log ``message % args`` unless this period's lines are spent; whether it was logged."""
        now = self._clock()
        if now - self._window_start >= self.period:
            self._window_start, self._written = now, 0
        if self._written >= self.burst:
            self.suppressed += 1
            return False
        self._written += 1
        if self.suppressed:
            message = f"{message} ({self.suppressed} similar lines left out)"
            self.suppressed = 0
        self.logger.warning(message, *args)
        return True
