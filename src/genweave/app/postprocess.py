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
_WORD = re.compile(r"[a-z][a-z0-9_]{3,}")


def cite(answer: str, passages: list[Passage], limit: int) -> list[Citation]:
    """Citations for the passages the answer relies on, numbered as given to the model.

    A passage counts when the answer names it with ``[n]`` or shares distinctive
    words with it; if nothing qualifies the best-scoring passages are cited, since
    they are what the answer was generated from.
    """
    marked = {int(n) for n in _MARKER.findall(answer)}
    answer_words = set(_WORD.findall(answer.lower()))
    chosen = [
        i for i, passage in enumerate(passages, start=1)
        if i in marked or len(answer_words & set(_WORD.findall(passage.text.lower()))) >= 2
    ] or list(range(1, len(passages) + 1))
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
