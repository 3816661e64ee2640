"""Extraction: the text a reader sees and the headings in it, for every media type."""

from __future__ import annotations

import re

import pytest
from sample_documents import HTML, MARKDOWN

from genweave.app.corpus import pydoc_corpus
from genweave.app.extract import Document, Heading, extract, extract_text


def test_plain_and_markdown_text_is_the_document_itself() -> None:
    assert extract_text(Document("d", "T", "some text\n")) == "some text\n"
    assert extract_text(Document("md", "Guide", MARKDOWN, "text/markdown")) == MARKDOWN


def test_underlined_headings_as_in_python_docs() -> None:
    typesseq = next(d for d in pydoc_corpus() if d.id == "pydoc:typesseq")
    text, headings = extract(typesseq)
    titles = [h.title for h in headings]
    assert "Common Sequence Operations" in titles
    assert any(t.startswith("Immutable Sequence Types") for t in titles)
    for heading in headings:  # located: the title starts its line, the body follows it
        assert text[heading.start:].startswith(heading.title)
        assert heading.start < heading.body


def test_markdown_headings_nest_and_code_is_not_a_heading() -> None:
    text, headings = extract(Document("md", "Guide", MARKDOWN, "text/markdown"))
    assert [(h.level, h.title) for h in headings] == [
        (1, "Guide"), (2, "Install"), (3, "From source"), (2, "Usage")]
    assert text[headings[-1].body:].lstrip().startswith("Call the command line")


def test_html_keeps_visible_text_and_headings_only() -> None:
    document = Document("h", "Manual", HTML, "text/html")
    text, headings = extract(document)
    for hidden in ("Ignored", "color: red", "secret", "enable js"):
        assert hidden not in text
    assert "Welcome to the manual & its many pages." in text
    assert "code   keeps   spaces" in text
    assert [(h.level, h.title) for h in headings] == [(1, "Manual"), (2, "Setup"), (3, "Details")]
    assert text[headings[1].body:].startswith("Install it first.")
    assert extract_text(document) == text


def test_a_heading_is_located_in_the_extracted_text() -> None:
    _, headings = extract(Document("d", "Guide", "# Install\n\nRun pip.", "text/markdown"))
    assert headings == [Heading(level=1, title="Install", start=0, body=10)]


def test_content_hash_follows_what_a_reader_sees() -> None:
    base = Document("d", "T", "text")
    assert base.content_hash == Document("d", "T", "text", source="elsewhere").content_hash
    assert base.content_hash != Document("d", "T2", "text").content_hash
    assert base.content_hash != Document("d", "T", "text!").content_hash
    assert re.fullmatch(r"[0-9a-f]{64}", base.content_hash)


def test_errors_say_what_to_do() -> None:
    pdf = Document("d", "T", "%PDF", "application/pdf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'application/pdf' is not supported; convert"):
        extract(pdf)
