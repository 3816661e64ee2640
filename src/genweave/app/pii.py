"""Finding and redacting personal data: e-mail addresses, phone numbers, card numbers,
US social security numbers and IP addresses.

Shared by the Moderator (which flags) and the PostProcessor (which redacts).
``StreamRedactor`` redacts a token stream without waiting for its end: it holds
back only the trailing text that could still become part of a match.

Example::

    redact("mail ana@example.com") == "mail [EMAIL]"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["PII_KINDS", "PiiMatch", "StreamRedactor", "find_pii", "redact"]

_PATTERNS: Final = {
    "email": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "card": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "phone": re.compile(r"(?<![\w-])(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b"),
    "ip": re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
}
PII_KINDS: Final = tuple(_PATTERNS)
_LONGEST_MATCH: Final = 64
"""No PII form above is longer; a stream holds back at most this many characters."""
_TRAILING_NUMBER: Final = re.compile(r"[\d+(][\d .()+-]*$")


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    text: str


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def find_pii(text: str) -> list[PiiMatch]:
    """Every non-overlapping PII match in ``text``, in order."""
    found: list[PiiMatch] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS.items():
        for match in pattern.finditer(text):
            if kind == "card" and not _luhn(re.sub(r"\D", "", match.group())):
                continue
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            taken.append(span)
            found.append(PiiMatch(kind, span[0], span[1], match.group()))
    return sorted(found, key=lambda m: m.start)


def redact(text: str) -> str:
    """``text`` with each PII match replaced by ``[KIND]``."""
    return _replace(text, find_pii(text))


def _replace(text: str, matches: list[PiiMatch]) -> str:
    pieces: list[str] = []
    position = 0
    for match in matches:
        pieces.append(text[position : match.start])
        pieces.append(f"[{match.kind.upper()}]")
        position = match.end
    pieces.append(text[position:])
    return "".join(pieces)


class StreamRedactor:
    """Redacts text that arrives in pieces, releasing it word by word.

    No PII form contains whitespace except numbers written in groups (phones,
    cards), so text is released up to the last whitespace, held back to the
    start of any trailing run of digits and separators, and never split inside
    a match.  ``flush`` releases the rest.
    """

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        self._pending += piece
        pending = self._pending
        cut = max(pending.rfind(" "), pending.rfind("\n"), pending.rfind("\t")) + 1
        number = _TRAILING_NUMBER.search(pending, 0, cut)
        if number is not None:
            cut = number.start()
        if len(pending) - cut > _LONGEST_MATCH:  # no whitespace for long: keep a bound
            cut = len(pending) - _LONGEST_MATCH
        if cut <= 0:
            return ""
        matches = find_pii(pending)
        for match in matches:
            if match.start < cut < match.end:
                cut = match.start
        ready, self._pending = pending[:cut], pending[cut:]
        return _replace(ready, [m for m in matches if m.end <= cut])

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return redact(ready)
