"""The demo corpus comes from the stdlib, complete and stable; files load by type."""

from __future__ import annotations

from pathlib import Path
from pydoc_data.topics import topics

import pytest

from genweave.app.chunking import Chunker
from genweave.app.corpus import corpus_hash, document_from_file, pydoc_corpus
from genweave.app.extract import Document


def test_every_pydoc_topic_is_a_document_once() -> None:
    documents = pydoc_corpus()
    ids = [d.id for d in documents]
    assert ids == sorted(set(ids))
    assert len(documents) >= 70
    named = {d.metadata["topic"] for d in documents}
    aliases = {a for d in documents for a in d.metadata.get("aliases", "").split(",") if a}
    assert named | aliases == set(topics)
    assert len({d.text for d in documents}) == len(documents)  # no duplicate texts


def test_documents_carry_title_source_and_type() -> None:
    by_id = {d.id: d for d in pydoc_corpus()}
    if_statement = by_id["pydoc:if"]
    assert if_statement.title == 'The "if" statement'
    assert if_statement.metadata["aliases"] == "else"
    assert if_statement.source == "pydoc_data.topics:if"
    assert if_statement.media_type == "text/plain"
    assert by_id["pydoc:typesseq"].title == 'Sequence Types — "list", "tuple", "range"'


def test_corpus_hash_is_stable_and_sensitive() -> None:
    documents = pydoc_corpus()
    assert corpus_hash(documents) == corpus_hash(pydoc_corpus())
    changed = [*documents[:-1], Document(documents[-1].id, "T", "changed")]
    assert corpus_hash(changed) != corpus_hash(documents)
    assert corpus_hash(documents[1:]) != corpus_hash(documents)


def test_the_corpus_chunks_quickly_into_model_sized_pieces() -> None:
    chunks = [c for d in pydoc_corpus() for c in Chunker().chunk(d)]
    assert 800 < len(chunks) < 1600
    assert all(len(c.text) <= 600 for c in chunks)
    assert sum(len(c.text) < 100 for c in chunks) < len(chunks) // 20


@pytest.mark.parametrize(("name", "content", "media_type", "title"), [
    ("notes.txt", "Release notes\n\nAll fixed.", "text/plain", "Release notes"),
    ("guide.md", "# User guide\n\nRead me.", "text/markdown", "User guide"),
    ("page.html", "<h1>Page</h1><p>Hi</p>", "text/html", "page"),
])
def test_document_from_file(
    tmp_path: Path, name: str, content: str, media_type: str, title: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    document = document_from_file(path)
    assert (document.id, document.title, document.media_type) == (str(path), title, media_type)
    assert document.text == content
    assert document_from_file(path, id="fixed").id == "fixed"


def test_document_from_file_refuses_unknown_types(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"report.pdf: unknown document type '.pdf'; use one of"):
        document_from_file(tmp_path / "report.pdf")
