"""PII detection and redaction, including across streamed pieces."""

from __future__ import annotations

import pytest

from genweave.app.pii import StreamRedactor, find_pii, redact


@pytest.mark.parametrize(("text", "kinds"), [
    ("write to ana.lopez+news@example.co.uk today", ["email"]),
    ("call +1 415-555-0132 or (415) 555 0199", ["phone", "phone"]),
    ("card 4111 1111 1111 1111 expires", ["card"]),
    ("ssn 123-45-6789", ["ssn"]),
    ("server at 192.168.10.254", ["ip"]),
    ("version 3.11.7 and 1234 5678", []),
    ("card 4111 1111 1111 1112 fails Luhn", []),
])
def test_find_pii(text: str, kinds: list[str]) -> None:
    assert [m.kind for m in find_pii(text)] == kinds


def test_redact() -> None:
    assert redact("mail ana@example.com, ip 10.0.0.1.") == "mail [EMAIL], ip [IP]."


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 50])
def test_streamed_redaction_equals_redacting_the_whole(piece: int) -> None:
    text = ("Contact ana@example.com or +1 415-555-0132; card 4111 1111 1111 1111. " * 3
            + "The end.")
    redactor = StreamRedactor()
    out = "".join(redactor.feed(text[i : i + piece]) for i in range(0, len(text), piece))
    assert out + redactor.flush() == redact(text)
    assert "ana@" not in out
