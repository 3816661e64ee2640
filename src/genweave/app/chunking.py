"""How documents are cut into chunks for retrieval.

A chunk is the unit the retriever returns and the embedder sees, so it must be
small enough for the embedding model's window (all-MiniLM-L6-v2 reads 256
tokens and was trained on 128), large enough to carry a complete thought, and
it must know where it came from: its document, its position, its heading and
its character span.  Chunks are cut inside one section where possible, at the
strongest boundary that fits (paragraph, line, sentence, word), and overlap a
little so a sentence cut in two is still found whole in one of them.

Spans index the document's extracted text (:mod:`genweave.app.extract`), so
``extract_text(doc)[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Final, NamedTuple

import msgspec

from genweave.app.extract import Document, Heading, extract

__all__ = ["Chunk", "Chunker"]

DEFAULT_MAX_CHARS: Final = 600
DEFAULT_OVERLAP_CHARS: Final = 80
DEFAULT_MIN_CHARS: Final = 150
MAX_CHARS_PER_UNIT: Final = 8
"""Bounds the search for a cut when sizes are measured in tokens (a token is rarely longer)."""

_BOUNDARIES: Final = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")
_HEADING_SEPARATOR: Final = " > "
_NOISE = re.compile(r"[-=+*~^_#|]{2,}|(?:^|(?<=\s))\|(?=\s|$)", re.MULTILINE)
"""Table borders and heading underlines: tokens for the model, meaning for nobody."""
_SPACES = re.compile(r"\s+")
_SPACE = re.compile(r"\s")


class Chunk(msgspec.Struct, frozen=True):
    """A contiguous piece of a document: ``text`` is ``extracted[start:end]``."""

    document_id: str
    ordinal: int
    text: str
    start: int
    end: int
    title: str = ""
    heading: str = ""
    """The section path below the title, e.g. ``"Common Sequence Operations"``."""

    def embedding_text(self) -> str:
        """What the embedder sees: the title and heading as context, then the text.

        The context is what makes a chunk in the middle of a long section findable
        by the section's subject; the noise filter drops table borders.
        """
        context = f"{self.title} — {self.heading}" if self.heading else self.title
        body = _SPACES.sub(" ", _NOISE.sub(" ", self.text)).strip()
        return f"{context}\n{body}" if context else body


class _Section(NamedTuple):
    path: tuple[str, ...]
    start: int
    end: int


def _sections(text: str, headings: list[Heading]) -> list[_Section]:
    """The text under each heading, with the path of headings above it."""
    sections, stack = [], list[Heading]()
    ends = [h.start for h in headings[1:]] + [len(text)]
    if not headings or headings[0].start > 0:
        sections.append(_Section((), 0, headings[0].start if headings else len(text)))
    for heading, end in zip(headings, ends, strict=False):  # no headings: one end, unused
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        sections.append(_Section(tuple(h.title for h in stack), heading.body, end))
    return [s for s in sections if text[s.start : s.end].strip()]


class Chunker:
    """Cuts documents into chunks of at most ``max_size``, measured by ``measure``.

    Sizes are characters by default; :meth:`by_tokens` measures them in the
    embedding model's tokens instead.  ``overlap`` is always in characters: the
    next chunk starts that far before the previous one ended, at a word boundary.
    Sections shorter than ``min_size`` are merged with the ones after them, so a
    heading with one line under it does not become a chunk of its own.

    >>> chunker = Chunker(max_size=600, overlap=80)
    >>> chunks = chunker.chunk(Document("d1", "Title", "Some text. " * 200))
    >>> all(len(c.text) <= 600 for c in chunks)
    True
    """

    def __init__(
        self,
        max_size: int = DEFAULT_MAX_CHARS,
        *,
        overlap: int = DEFAULT_OVERLAP_CHARS,
        min_size: int = DEFAULT_MIN_CHARS,
        measure: Callable[[str], int] = len,
        unit: str = "chars",
    ) -> None:
        in_characters = measure is len  # otherwise overlap and sizes are in different units
        if (max_size <= 0 or overlap < 0 or not 0 <= min_size <= max_size
                or (in_characters and overlap > max_size // 2)):
            raise ValueError(
                f"Chunker(max_size={max_size}, overlap={overlap}, min_size={min_size}): "
                "need max_size > 0, 0 <= overlap <= max_size/2 and 0 <= min_size <= max_size"
            )
        self.max_size, self.overlap, self.min_size = max_size, overlap, min_size
        self.measure, self.unit = measure, unit

    @classmethod
    def by_tokens(
        cls,
        count_tokens: Callable[[list[str]], list[int]],
        max_tokens: int,
        *,
        overlap: int = DEFAULT_OVERLAP_CHARS,
        min_tokens: int = 0,
    ) -> Chunker:
        """A chunker whose sizes are tokens, e.g. ``Chunker.by_tokens(enc.count_tokens, 200)``."""
        return cls(max_tokens, overlap=overlap, min_size=min_tokens,
                   measure=lambda text: count_tokens([text])[0], unit="tokens")

    @property
    def fingerprint(self) -> str:
        """Names the settings; stored with chunks so a change is detected as a new version."""
        return f"{self.unit}:{self.max_size}:{self.overlap}:{self.min_size}"

    def chunk(self, document: Document) -> list[Chunk]:
        """The document's chunks, in order; ``ordinal`` counts from 0."""
        text, headings = extract(document)
        chunks: list[Chunk] = []
        for path, start, end in self._groups(text, _sections(text, headings)):
            if path and path[0] == document.title:
                path = path[1:]
            for span_start, span_end in self._windows(text, start, end):
                chunks.append(Chunk(
                    document.id, len(chunks), text[span_start:span_end], span_start, span_end,
                    document.title, _HEADING_SEPARATOR.join(path),
                ))
        return chunks

    def _groups(self, text: str, sections: list[_Section]) -> Iterator[_Section]:
        """Merges each short section with the ones after it while the result stays small."""
        index = 0
        while index < len(sections):
            first, last = sections[index], index
            while (
                last + 1 < len(sections)
                and self.measure(text[first.start : sections[last].end]) < self.min_size
                and self.measure(text[first.start : sections[last + 1].end]) <= self.max_size
            ):
                last += 1
            yield _Section(first.path, first.start, sections[last].end)
            index = last + 1

    def _windows(self, text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
        position = start
        while position < end:
            stop = self._fit(text, position, end)
            if stop < end:
                stop = _boundary(text, position, stop)
            first, last = _trim(text, position, stop)
            if last > first:
                yield first, last
            if stop >= end:
                return
            position = self._next_start(text, position, stop)

    def _fit(self, text: str, start: int, end: int) -> int:
        """The furthest end such that ``text[start:end]`` measures at most ``max_size``."""
        if self.measure is len:
            return min(end, start + self.max_size)
        low, high = start + 1, min(end, start + self.max_size * MAX_CHARS_PER_UNIT)
        if self.measure(text[start:high]) <= self.max_size:
            return high
        while low < high:  # invariant: text[start:low] fits, text[start:high] does not
            middle = (low + high + 1) // 2
            if self.measure(text[start:middle]) <= self.max_size:
                low = middle
            else:
                high = middle - 1
        return low

    def _next_start(self, text: str, position: int, stop: int) -> int:
        if not self.overlap:
            return stop
        start = max(stop - self.overlap, position + 1)
        if not text[start - 1].isspace():  # mid-word: begin at the next word instead
            space = _SPACE.search(text, start, stop)
            start = space.end() if space else stop
        return start


def _boundary(text: str, start: int, stop: int) -> int:
    """The strongest boundary in the second half of ``text[start:stop]``, else ``stop``."""
    floor = start + (stop - start) // 2
    for separator in _BOUNDARIES:
        found = text.rfind(separator, floor, stop)
        if found != -1:
            return found + len(separator)
    return stop


def _trim(text: str, start: int, stop: int) -> tuple[int, int]:
    while start < stop and text[start].isspace():
        start += 1
    while stop > start and text[stop - 1].isspace():
        stop -= 1
    return start, stop
