"""Documents, and the text a reader sees in them: what chunks are cut from.

Extraction turns a document of any supported media type into plain text plus
the headings found in it, located by character offset:

- plain text: the text itself; headings are reStructuredText-style titles over
  an underline (``*****``, ``=====``), as in Python's own documentation;
- Markdown: the text itself; ATX (``## Title``) and setext headings, outside
  code fences;
- HTML: the visible text (scripts and styles removed, one block per line,
  headings on their own lines) and its ``h1``-``h6`` headings.

Chunk spans index this extracted text, so
``extract_text(doc)[chunk.start:chunk.end] == chunk.text`` for every format.

>>> extract(Document("d", "Guide", "# Install\\n\\nRun pip.", "text/markdown")).headings
[Heading(level=1, title='Install', start=0, body=10)]
"""

from __future__ import annotations

import hashlib
import itertools
import re
from html.parser import HTMLParser
from typing import Final, NamedTuple, get_args

import msgspec

from genweave.app.types import MediaType

__all__ = ["Document", "Extracted", "Heading", "extract", "extract_text"]

MEDIA_TYPES: Final[tuple[str, ...]] = get_args(MediaType)

_SPACES = re.compile(r"\s+")


class Document(msgspec.Struct, frozen=True):
    """A document to index.  ``id`` is stable across versions; the content hash is not.

    >>> doc = Document("guide", "User guide", "# Install\\n\\nRun pip.", "text/markdown")
    >>> len(doc.content_hash)
    64
    """

    id: str
    title: str
    text: str
    media_type: MediaType = "text/plain"
    source: str = ""
    metadata: dict[str, str] = {}

    @property
    def content_hash(self) -> str:
        """Changes whenever what a reader would see changes (title, type or text)."""
        digest = hashlib.sha256()
        for part in (self.title, self.media_type, self.text):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()


class Heading(NamedTuple):
    """A heading found in a document, located in its extracted text."""

    level: int
    title: str
    start: int
    """Where the heading's first line starts."""
    body: int
    """Where the text under it starts."""


class Extracted(NamedTuple):
    """A document's extracted text and the headings in it, in order."""

    text: str
    headings: list[Heading]


def extract_text(document: Document) -> str:
    """The text that chunk spans index (see the module docstring)."""
    return extract(document).text


def extract(document: Document) -> Extracted:
    """The document's text and headings, by its media type.

    Raises ``ValueError`` naming the supported types for any other.
    """
    if document.media_type == "text/html":
        return _HtmlText.extract(document.text)
    if document.media_type == "text/markdown":
        return Extracted(document.text, _markdown_headings(document.text))
    if document.media_type == "text/plain":
        return Extracted(document.text, _underlined_headings(document.text))
    raise ValueError(
        f"document {document.id!r}: media type {document.media_type!r} is not supported; "
        f"convert it to one of {', '.join(MEDIA_TYPES)}"
    )


def _lines(text: str) -> list[tuple[int, str]]:
    offsets, position = [], 0
    for line in text.splitlines(keepends=True):
        offsets.append((position, line))
        position += len(line)
    return offsets


def _underline(line: str, chars: str) -> str | None:
    """The character a line repeats, if it is an underline made of one of ``chars``."""
    stripped = line.strip()
    if len(stripped) >= 3 and stripped[0] in chars and stripped == stripped[0] * len(stripped):
        return stripped[0]
    return None


def _underlined_headings(text: str) -> list[Heading]:
    """reStructuredText-style headings, as in Python's own docs: a title over ``*****``.

    Levels follow the order in which underline characters first appear, as in reST.
    """
    lines, levels, found = _lines(text), dict[str, int](), []
    for (start, title), (_, under) in itertools.pairwise(lines):
        char = _underline(under, "*=-~^+#\"'")
        name = title.strip()
        plausible = name and not title[0].isspace() and len(under.strip()) >= len(name) // 2
        if char and plausible and not _underline(title, "*=-~^+#\"'"):
            level = levels.setdefault(char, len(levels) + 1)
            found.append(Heading(level, name, start, start + len(title) + len(under)))
    return found


_ATX = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r" {0,3}(```|~~~)")


def _markdown_headings(text: str) -> list[Heading]:
    """ATX (``## Title``) and setext (title over ``===`` / ``---``) headings, outside code."""
    lines, found, fenced = _lines(text), [], False
    for index, (start, line) in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        if fenced:
            continue
        if (match := _ATX.match(line.rstrip("\r\n"))) and match[2]:
            found.append(Heading(len(match[1]), match[2], start, start + len(line)))
        elif index + 1 < len(lines) and line.strip() and not line[0].isspace():
            char = _underline(lines[index + 1][1], "=-")
            if char:
                body = start + len(line) + len(lines[index + 1][1])
                found.append(Heading(1 if char == "=" else 2, line.strip(), start, body))
    return found


class _HtmlText(HTMLParser):
    """Visible text of an HTML page, one block per line, with its headings located."""

    SKIP: Final = frozenset({"script", "style", "noscript", "template", "head", "title", "svg"})
    BLOCKS: Final = frozenset({
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
        "section", "table", "td", "th", "tr", "ul",
    })
    HEADINGS: Final = {f"h{level}": level for level in range(1, 7)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.headings: list[Heading] = []
        self._skipping = 0
        self._preformatted = 0
        self._heading: tuple[int, int, list[str]] | None = None

    @classmethod
    def extract(cls, html: str) -> Extracted:
        parser = cls()
        parser.feed(html)
        parser.close()
        return Extracted("".join(parser.parts), parser.headings)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif not self._skipping:
            if tag == "pre":
                self._preformatted += 1
            if tag in self.HEADINGS:
                self._break(blank=True)
                self._heading = (self.HEADINGS[tag], self.size, [])
            elif tag in self.BLOCKS:
                self._break(blank=tag in {"p", "pre", "table", "blockquote"})

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif not self._skipping:
            if tag == "pre":
                self._preformatted = max(0, self._preformatted - 1)
            if tag in self.HEADINGS and self._heading:
                level, start, words = self._heading
                self._heading = None
                self._break(blank=True)
                title = _SPACES.sub(" ", "".join(words)).strip()
                if title:
                    self.headings.append(Heading(level, title, start, self.size))
            elif tag in self.BLOCKS:
                self._break(blank=tag in {"p", "pre", "table", "blockquote"})

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if not self._preformatted:
            data = _SPACES.sub(" ", data)
            if not self.parts or self.parts[-1].endswith("\n"):
                data = data.lstrip()
        if data:
            self._append(data)
            if self._heading:
                self._heading[2].append(data)

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def _break(self, *, blank: bool) -> None:
        if not self.parts:
            return
        tail = self.parts[-1]
        if not tail.endswith("\n"):
            self._append("\n")
        if blank and not "".join(self.parts[-2:]).endswith("\n\n"):
            self._append("\n")
