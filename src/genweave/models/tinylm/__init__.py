"""TinyLM: a tiny byte-level transformer trained on Python's documentation,
run in pure numpy, with a KV-cached batched decode step for serving.

>>> from genweave.models.tinylm import TinyLM
>>> lm = TinyLM.load()
>>> print(lm.generate("The while statement", max_tokens=60, seed=0))  # doctest: +SKIP
"""

from __future__ import annotations

from .model import TinyLM
from .sequence import Sequence
from .tokenizer import EOS_ID, ByteTokenizer, StreamDecoder
from .weights import DEFAULT_WEIGHTS, ModelConfig, load_weights, save_weights

__all__ = [
    "DEFAULT_WEIGHTS",
    "EOS_ID",
    "ByteTokenizer",
    "ModelConfig",
    "Sequence",
    "StreamDecoder",
    "TinyLM",
    "load_weights",
    "save_weights",
]
