"""The demo corpus, and documents read from files.

The reference application answers questions about Python itself.  Its corpus
is the language reference that every CPython installs as ``pydoc_data``
(what ``help("if")`` prints): about 80 topics, 460k characters, no download.

>>> docs = pydoc_corpus()
>>> docs[0].id, docs[0].title
('pydoc:assert', 'The "assert" statement')
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from genweave.app.extract import Document
from genweave.app.types import MediaType

__all__ = ["corpus_hash", "document_from_file", "pydoc_corpus"]

PYDOC_PREFIX: Final = "pydoc:"
MEDIA_TYPES_BY_SUFFIX: Final[dict[str, MediaType]] = {
    ".txt": "text/plain", ".rst": "text/plain", ".md": "text/markdown",
    ".markdown": "text/markdown", ".html": "text/html", ".htm": "text/html",
}


def pydoc_corpus() -> list[Document]:
    """Python's reference topics as documents, one per topic, sorted by topic name.

    Topics with identical text (``else`` repeats ``if``) become one document,
    named after the topic its title mentions; the others are kept as aliases.
    """
    from pydoc_data.topics import topics

    by_text: dict[str, list[str]] = {}
    for name in sorted(topics):
        by_text.setdefault(topics[name], []).append(name)
    documents = [_pydoc_document(text, names) for text, names in by_text.items()]
    return sorted(documents, key=lambda doc: doc.id)


def _pydoc_document(text: str, names: list[str]) -> Document:
    title = _first_line(text)
    names = sorted(names, key=lambda name: f'"{name}"' not in title)
    metadata = {"topic": names[0], "python": ".".join(map(str, sys.version_info[:3]))}
    if len(names) > 1:
        metadata["aliases"] = ",".join(names[1:])
    return Document(
        f"{PYDOC_PREFIX}{names[0]}", title or names[0], text, "text/plain",
        source=f"pydoc_data.topics:{names[0]}", metadata=metadata,
    )


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def document_from_file(path: str | Path, *, id: str | None = None) -> Document:
    """A document read from a ``.txt``, ``.rst``, ``.md`` or ``.html`` file.

    The id defaults to the path; the title to the first line (Markdown ``#`` removed).

    >>> doc = document_from_file("docs/guide.md")  # doctest: +SKIP
    """
    path = Path(path)
    media_type = MEDIA_TYPES_BY_SUFFIX.get(path.suffix.lower())
    if media_type is None:
        known = ", ".join(sorted(MEDIA_TYPES_BY_SUFFIX))
        raise ValueError(f"{path}: unknown document type {path.suffix!r}; use one of {known}")
    text = path.read_text(encoding="utf-8")
    title = path.stem if media_type == "text/html" else _first_line(text).lstrip("#").strip()
    return Document(id or str(path), title or path.stem, text, media_type, source=str(path))


def corpus_hash(documents: Iterable[Document]) -> str:
    """One hash for a whole corpus: equal exactly when every document is (ids included)."""
    digest = hashlib.sha256()
    for document in documents:
        digest.update(f"{document.id}\0{document.content_hash}\n".encode())
    return digest.hexdigest()
