"""Chunks are bounded, overlap a little, know their heading and span, for every format.

What text and headings each format yields is tested in ``test_extract.py``.
"""

from __future__ import annotations

import itertools

import pytest
from sample_documents import HTML, MARKDOWN

from genweave.app.chunking import Chunk, Chunker
from genweave.app.corpus import pydoc_corpus
from genweave.app.extract import Document, extract_text

SENTENCES = " ".join(f"Sentence number {i} says something useful." for i in range(200))


def _check_spans(document: Document, chunks: list[Chunk]) -> None:
    text = extract_text(document)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.document_id == document.id
        assert chunk.title == document.title
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text


def test_plain_text_chunks_are_bounded_exact_slices_that_cover_everything() -> None:
    document = Document("d", "Plain", SENTENCES)
    chunks = Chunker(max_size=300, overlap=40).chunk(document)
    _check_spans(document, chunks)
    assert all(len(c.text) <= 300 for c in chunks)
    covered = set().union(*(range(c.start, c.end) for c in chunks))
    assert all(i in covered for i, char in enumerate(SENTENCES) if not char.isspace())


def test_chunks_end_at_sentence_boundaries_and_overlap() -> None:
    chunks = Chunker(max_size=300, overlap=60).chunk(Document("d", "T", SENTENCES))
    assert all(c.text.endswith(".") for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end  # overlapping
        assert after.start > before.start
        assert SENTENCES[after.start - 1] == " "  # starting at a word


def test_no_overlap_means_disjoint_chunks() -> None:
    chunks = Chunker(max_size=300, overlap=0).chunk(Document("d", "T", SENTENCES))
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))


def test_a_word_longer_than_a_chunk_is_cut_hard() -> None:
    document = Document("d", "T", "x" * 1000 + " tail")
    chunks = Chunker(max_size=300, overlap=0).chunk(document)
    _check_spans(document, chunks)
    assert "".join(c.text for c in chunks) == document.text
    assert max(len(c.text) for c in chunks) == 300


def test_empty_and_blank_documents_have_no_chunks() -> None:
    assert Chunker().chunk(Document("d", "T", "")) == []
    assert Chunker().chunk(Document("d", "T", " \n\n \t")) == []


def test_underlined_headings_as_in_python_docs() -> None:
    typesseq = next(d for d in pydoc_corpus() if d.id == "pydoc:typesseq")
    chunks = Chunker().chunk(typesseq)
    _check_spans(typesseq, chunks)
    headings = [c.heading for c in chunks]
    assert headings[0] == ""  # the title is not repeated as a heading
    assert "Common Sequence Operations" in headings
    assert any(h.startswith("Immutable Sequence Types") for h in headings)
    assert not any("*****" in c.text or "=====\n" in c.text for c in chunks[:2])


def test_markdown_headings_nest_and_code_is_not_a_heading() -> None:
    document = Document("md", "Guide", MARKDOWN, "text/markdown")
    chunks = Chunker(max_size=400, min_size=0).chunk(document)
    _check_spans(document, chunks)
    by_heading = {c.heading: c.text for c in chunks}
    assert set(by_heading) == {"", "Install", "Install > From source", "Usage"}
    assert "# this comment is code" in by_heading["Install"]
    assert by_heading["Usage"].startswith("Call the command line")


def test_html_chunks_follow_its_headings() -> None:
    document = Document("h", "Manual", HTML, "text/html")
    chunks = Chunker(max_size=200, min_size=0).chunk(document)
    _check_spans(document, chunks)
    assert [c.heading for c in chunks] == ["", "Setup", "Setup > Details"]
    assert chunks[1].text.startswith("Install it first.\n\none\ntwo\n\ncode   keeps")


def test_short_sections_are_merged_with_the_next() -> None:
    text = "Title\n*****\n\nA\n===\n\nshort.\n\nB\n===\n\n" + "Long enough body. " * 20
    chunks = Chunker(max_size=600, min_size=150).chunk(Document("d", "Title", text))
    assert len(chunks) == 1
    assert chunks[0].heading == "A" and "B\n===" in chunks[0].text


def test_sizes_in_tokens() -> None:
    def words(texts: list[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]  # like a tokenizer with [CLS] and [SEP]

    chunker = Chunker.by_tokens(words, 40, overlap=30)
    chunks = chunker.chunk(Document("d", "T", SENTENCES))
    assert len(chunks) > 10
    assert all(words([c.text])[0] <= 40 for c in chunks)
    assert max(words([c.text])[0] for c in chunks) >= 35  # and not much smaller
    assert chunker.fingerprint == "tokens:40:30:0"


def test_embedding_text_has_context_and_no_table_borders() -> None:
    chunk = Chunk("d", 0, "+-----+\n| a | b |\n+=====+\nx | y", 0, 30, "Title", "Section")
    assert chunk.embedding_text() == "Title — Section\na b x y"
    assert Chunk("d", 0, "body", 0, 4, "Title").embedding_text() == "Title\nbody"


def test_errors_say_what_to_do() -> None:
    pdf = Document("d", "T", "%PDF", "application/pdf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'application/pdf' is not supported; convert"):
        Chunker().chunk(pdf)
    with pytest.raises(ValueError, match="overlap <= max_size/2"):
        Chunker(max_size=100, overlap=80)
