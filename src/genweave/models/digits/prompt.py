"""Finding the digit a prompt asks for: "draw a 7", "seven", "the number 3"."""

from __future__ import annotations

import re

__all__ = ["parse_digit"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# A lone numeral: "7", "7s", "#7", but not part of "12" or "3.14".
_NUMERAL = re.compile(r"(?<![\d.])(\d)(?![\d.]?\d)")
_WORD = re.compile(r"\b(" + "|".join(DIGIT_WORDS) + r"|nought|naught)s?\b", re.IGNORECASE)


def parse_digit(prompt: str) -> int | None:
    """The digit named in ``prompt``, or ``None`` if it names none.

    A numeral wins over a word ("one 4" asks for a 4: "one" is more often an
    article than a number), and among several, the first wins.

    >>> parse_digit("draw a 7"), parse_digit("Seven, please"), parse_digit("a cat")
    (7, 7, None)
    """
    if match := _NUMERAL.search(prompt):
        return int(match.group(1))
    if match := _WORD.search(prompt):
        word = match.group(1).lower()
        return 0 if word in ("nought", "naught") else DIGIT_WORDS.index(word)
    return None
