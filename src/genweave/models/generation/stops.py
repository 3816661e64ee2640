"""Finding stop strings in streamed text without showing any part of them.

A stop string can arrive split across tokens ("\\nUs" then "er:"). The
matcher therefore holds back the end of the text while it could still be the
beginning of a stop string, and releases it as soon as it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopMatcher"]


class StopMatcher:
    """Feeds streamed text through, cutting it at the first stop string.

    >>> m = StopMatcher(["\\nUser:"])
    >>> m.feed("Hello\\nUs")
    ('Hello', False)
    >>> m.feed("er: hi")
    ('', True)
    >>> StopMatcher(["###"]).feed("a # b")
    ('a # b', False)
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return the text that is safe to show, and whether a stop string was found
        (after which the rest of the stream must be dropped)."""
        if not self._stops:
            return text, False
        buffer = self._held + text
        cut = min((i for i in (buffer.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return buffer[:cut], True
        keep = self._partial_suffix(buffer)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        """The held-back text, once the stream has ended without a stop string."""
        held, self._held = self._held, ""
        return held

    def _partial_suffix(self, buffer: str) -> int:
        """Length of the longest end of ``buffer`` that begins some stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest
