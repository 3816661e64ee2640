"""Byte-level tokenizer: every UTF-8 byte is a token, plus one end-of-text token.

Bytes rather than characters so that any string round-trips and no vocabulary
file has to ship; the model is character-level for the ASCII text it was
trained on. Id 256 marks the end of a document; it also serves as the
beginning-of-text marker in front of a prompt, since during training it is
what precedes the first byte of every document.
"""

from __future__ import annotations

import codecs

__all__ = ["EOS_ID", "VOCAB_SIZE", "ByteTokenizer", "StreamDecoder"]

BYTE_VALUES = 256
EOS_ID = BYTE_VALUES
VOCAB_SIZE = BYTE_VALUES + 1


class ByteTokenizer:
    """Maps text to byte ids and back.

    >>> tok = ByteTokenizer()
    >>> tok.encode("hé")
    [104, 195, 169]
    >>> tok.decode([104, 195, 169, EOS_ID])
    'hé'
    """

    eos_id = EOS_ID
    vocab_size = VOCAB_SIZE

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        """Decode ids to text; the end-of-text token is dropped, and a byte
        sequence that is not valid UTF-8 (a sampled model can produce one)
        becomes U+FFFD instead of raising."""
        return bytes(i for i in ids if i < BYTE_VALUES).decode("utf-8", errors="replace")

    def stream(self) -> StreamDecoder:
        return StreamDecoder()


class StreamDecoder:
    """Decodes a token stream one id at a time, holding back the first bytes
    of a multi-byte character until it is complete, so a streamed response
    never shows a broken character that the next token would have fixed.

    >>> dec = StreamDecoder()
    >>> [dec.push(i) for i in [104, 195, 169]]
    ['h', '', 'é']
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        if token_id >= BYTE_VALUES:
            return ""
        return self._decoder.decode(bytes([token_id]))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)
