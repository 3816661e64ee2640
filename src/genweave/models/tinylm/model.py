"""TinyLM: the built-in text model, shaped for a continuous-batching server.

A server keeps one :class:`Sequence` per request. ``start`` prefills a
prompt into the sequence's KV-cache row; ``step`` advances any set of live
sequences (different lengths, different settings) by one token each in a
single batched forward pass. Requests join and leave between steps at no
cost to the others.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .layers import F32
from .sampling import sample
from .sequence import Sequence
from .tokenizer import ByteTokenizer, StreamDecoder
from .transformer import Transformer
from .weights import DEFAULT_WEIGHTS, ModelConfig, Params, load_weights

__all__ = ["TinyLM"]


class TinyLM:
    """A small byte-level decoder trained on Python's documentation.

    >>> lm = TinyLM.load()
    >>> text = lm.generate("The for statement", max_tokens=40, seed=0)
    >>> seqs = [lm.start(lm.encode(p), seed=i) for i, p in enumerate(["A list", "Tuples"])]
    >>> tokens = lm.step(seqs)        # one new token for each, one forward pass

    Thread safety: ``start``, ``logits`` and ``step`` take a lock, so several
    threads may share a model, but a server gets its batching benefit by
    driving all sequences from one loop.
    """

    def __init__(
        self, config: ModelConfig, params: Params, info: dict[str, Any] | None = None
    ) -> None:
        self.config = config
        self.info: dict[str, Any] = info or {}
        self.tokenizer = ByteTokenizer()
        self._net = Transformer(config, params)
        self._pool = self._net.new_pool()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path | None = None) -> TinyLM:
        """Load weights from ``path``, or the ones shipped in the package."""
        config, params, info = load_weights(DEFAULT_WEIGHTS if path is None else path)
        return cls(config, params, info)

    @property
    def context_length(self) -> int:
        return self.config.context_length

    @property
    def eos_id(self) -> int:
        return self.config.eos_id

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def live_sequences(self) -> int:
        """Sequences holding a cache row (open and not yet collected)."""
        return self._pool.in_use

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def stream_decoder(self) -> StreamDecoder:
        return self.tokenizer.stream()

    def start(
        self,
        prompt_ids: list[int],
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
        bos: bool = True,
    ) -> Sequence:
        """Prefill a prompt and return its sequence, ready for :meth:`step`.

        ``bos`` puts the end-of-text id in front, which tells the model a new
        document starts here, as every document did in training. A prompt
        longer than the context keeps only its last ``context_length``
        tokens. ``seed`` makes the sequence's samples reproducible; ``None``
        seeds from the operating system.
        """
        tokens = ([self.eos_id] if bos else []) + list(prompt_ids)
        if any(not 0 <= t < self.vocab_size for t in tokens):
            raise ValueError(f"TinyLM.start: token ids must lie in 0..{self.vocab_size - 1}")
        if not tokens:
            raise ValueError(
                "TinyLM.start: the prompt is empty and bos=False; "
                "there is no token to continue from"
            )
        tokens = tokens[-self.context_length :]
        with self._lock:
            seq = Sequence(
                self._pool,
                tokens,
                temperature=temperature,
                top_p=top_p,
                rng=np.random.default_rng(seed),
            )
            self._net.prefill(self._pool, seq.row, np.array(tokens[:-1], dtype=np.int64))
        return seq

    def logits(self, seqs: list[Sequence]) -> F32:
        """Next-token logits for each sequence, shape ``(len(seqs), vocab)``.

        Feeds each pending token to the cache but does not advance, so calling
        it twice, or before :meth:`step`, gives the same result.
        """
        with self._lock:
            return self._logits(seqs)

    def step(
        self,
        seqs: list[Sequence],
        temperature: float | None = None,
        rng: np.random.Generator | None = None,
    ) -> list[int]:
        """Advance every sequence by one token in one batched forward pass.

        Each sequence samples with its own temperature, top-p and generator;
        ``temperature`` and ``rng``, when given, override those for this step
        (with a shared ``rng``, rows draw in list order). Returns the new
        tokens, which are also appended to each ``seq.tokens``. Stopping (the
        end-of-text id, a token budget) is the caller's decision.
        """
        with self._lock:
            logits = self._logits(seqs)
            temps = np.array(
                [s.temperature if temperature is None else temperature for s in seqs],
                dtype=np.float64,
            )
            top_ps = np.array([s.top_p for s in seqs], dtype=np.float64)
            rngs = [s.rng if rng is None else rng for s in seqs]
            tokens = sample(logits, temps, top_ps, rngs)
            for seq, token in zip(seqs, tokens, strict=True):
                seq.tokens.append(token)
        return tokens

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int = 200,
        temperature: float = 0.8,
        top_p: float = 0.95,
        seed: int | None = None,
    ) -> str:
        """Continue ``prompt`` alone until end-of-text or ``max_tokens``."""
        with self.start(
            self.encode(prompt), temperature=temperature, top_p=top_p, seed=seed
        ) as seq:
            for _ in range(max_tokens):
                if self.step([seq])[0] == self.eos_id:
                    break
            return self.decode(seq.generated)

    def log_probs(self, ids: list[int]) -> F32:
        """Log-probability of each of ``ids[1:]`` given the ids before it,
        scored in consecutive windows of one context. For evaluation."""
        ctx = self.context_length
        out: list[F32] = []
        for begin in range(0, len(ids) - 1, ctx):
            window = np.array(ids[begin : begin + ctx + 1], dtype=np.int64)
            logits = self._net.score(window[:-1]).astype(np.float64)
            peak = logits.max(axis=-1, keepdims=True)
            norm = np.log(np.exp(logits - peak).sum(axis=-1)) + peak[:, 0]
            out.append((logits[np.arange(len(window) - 1), window[1:]] - norm).astype(np.float32))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def _logits(self, seqs: list[Sequence]) -> F32:
        self._check_batch(seqs)
        rows = np.array([s.row for s in seqs], dtype=np.int64)
        tokens = np.array([s.tokens[-1] for s in seqs], dtype=np.int64)
        positions = np.array([s.position for s in seqs], dtype=np.int64)
        return self._net.decode(self._pool, rows, tokens, positions)

    def _check_batch(self, seqs: list[Sequence]) -> None:
        if not seqs:
            raise ValueError("TinyLM.step: the batch is empty")
        if len({id(s) for s in seqs}) != len(seqs):
            raise ValueError("TinyLM.step: a sequence appears twice in the batch")
        for s in seqs:
            if s.closed:
                raise ValueError("TinyLM.step: a sequence in the batch was closed")
            if s.pool is not self._pool:
                raise ValueError(
                    "TinyLM.step: a sequence in the batch belongs to another TinyLM instance"
                )
