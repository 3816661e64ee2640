"""Citations point at the passages the answer used; snippets never leak PII."""

from __future__ import annotations

from genweave.app.postprocess import PostProcessor, cite
from genweave.app.types import Passage

PASSAGES = [
    Passage("topic:yield", "The yield statement", 0, "The yield statement is used in "
            "generator functions. Contact ana@example.com for details.", 0.71),
    Passage("topic:for", "The for statement", 2, "The for statement iterates over "
            "the elements of a sequence.", 0.52),
    Passage("topic:with", "The with statement", 1, "Context managers.", 0.31),
]


def test_marked_passages_are_cited_in_order() -> None:
    citations = cite("Generators [3] use yield statements [1], not [9].", PASSAGES, 5)
    assert [c.index for c in citations] == [1, 3]
    first = citations[0]
    assert (first.document, first.title, first.chunk) == ("topic:yield", "The yield statement", 0)
    assert "[EMAIL]" in first.snippet and "ana@" not in first.snippet


def test_without_markers_the_best_passages_are_cited() -> None:
    assert [c.index for c in cite("Zzz.", PASSAGES, 2)] == [1, 2]
    assert cite("anything", [], 5) == []


async def test_component_methods() -> None:
    post = PostProcessor()
    assert await post.redact("ip 10.1.2.3") == "ip [IP]"
    assert len(await post.cite("iterates over elements of a sequence", PASSAGES)) == 3
