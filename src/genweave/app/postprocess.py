"""The PostProcessor: citations that point at the retrieved chunks, and PII redaction."""

from __future__ import annotations

import re
from typing import Final

from genweave.app.pii import redact
from genweave.app.types import Citation, Passage
from genweave.component import component, method

__all__ = ["PostProcessor", "cite"]

SNIPPET_CHARS: Final = 240
_MARKER = re.compile(r"\[(\d{1,2})\]")


def cite(answer: str, passages: list[Passage], limit: int) -> list[Citation]:
    """Citations for the passages the answer relies on, numbered as given to the model.

    When the answer marks sources with ``[n]``, those are cited, in order;
    otherwise every passage it was given is, best match first: they are what
    the answer was generated from.
    """
    marked = sorted({int(n) for n in _MARKER.findall(answer)} & set(range(1, len(passages) + 1)))
    chosen = marked or sorted(range(1, len(passages) + 1), key=lambda i: -passages[i - 1].score)
    return [_citation(i, passages[i - 1]) for i in chosen[:limit]]


def _citation(index: int, passage: Passage) -> Citation:
    snippet = " ".join(passage.text.split())
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."
    return Citation(index, passage.document, passage.title, passage.chunk,
                    round(passage.score, 4), redact(snippet))


@component
class PostProcessor:
    """Turns a raw answer into what the user sees."""

    @method(idempotent=True)
    async def redact(self, text: str) -> str:
        return redact(text)

    @method(idempotent=True)
    async def cite(self, answer: str, passages: list[Passage], limit: int = 5) -> list[Citation]:
        return cite(answer, passages, limit)
