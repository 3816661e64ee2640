"""Continuous batching for Hugging Face causal LMs: left padding, one merged KV cache.

Every live request is one row of a single ``DynamicCache``. Rows are padded
on the left (the attention mask hides the padding, explicit position ids keep
each row's positions its own), so one forward pass advances all of them. A
request that joins is prefilled on its own and its cache is padded and
stacked under the running rows; a request that leaves is dropped with
``batch_select_indices``, and columns that only padding still uses are cut
off. Caches that cannot be merged this way (sliding-window or recurrent
layers) still batch, but a new batch starts only when the last one drains.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from genweave.models.tinylm.sampling import sample

from .engine import Detokenizer, EngineRequest, Runner

if TYPE_CHECKING:
    import torch

__all__ = ["HFRunner", "IncrementalDecoder"]

DECODE_CONTEXT: Final = 5
"""Prompt tokens decoded in front of the first new one, so tokenizers that drop
a leading space at the start of a text keep it (vLLM and TGI do the same)."""
REPLACEMENT_CHAR: Final = "\ufffd"


class IncrementalDecoder:
    """Text for one token at a time from a Hugging Face tokenizer.

    Decodes a short window of ids and emits what it adds, holding back text
    that ends in an incomplete character (a byte-level token may carry half
    of one).

    >>> decoder = IncrementalDecoder(tokenizer, context=prompt_ids[-5:])  # doctest: +SKIP
    >>> text = decoder.push(token_id) + decoder.flush()                   # doctest: +SKIP
    """

    def __init__(self, tokenizer: Any, context: list[int]) -> None:
        self._tokenizer = tokenizer
        self._ids = list(context)
        self._prefix = 0
        self._read = len(self._ids)

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        before, after = self._decode(self._read), self._decode(len(self._ids))
        if len(after) > len(before) and not after.endswith(REPLACEMENT_CHAR):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        before, after = self._decode(self._read), self._decode(len(self._ids))
        self._prefix = self._read = len(self._ids)
        return after[len(before) :]

    def _decode(self, end: int) -> str:
        text: str = self._tokenizer.decode(self._ids[self._prefix : end], skip_special_tokens=True)
        return text


class HFRunner(Runner):
    """Drives a ``transformers`` causal LM for the engine (see the module docstring).

    >>> runner = HFRunner(model, tokenizer, torch, eos_ids=frozenset({2}),
    ...                   pad_id=0)  # doctest: +SKIP
    >>> engine = Engine(runner, max_batch_size=16)  # doctest: +SKIP
    """

    def __init__(
        self, model: Any, tokenizer: Any, torch_module: ModuleType, *, eos_ids: frozenset[int],
        pad_id: int,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self._torch = torch_module
        self._cache_class: Any = _dynamic_cache()
        self._cache_keyword = _cache_keyword(model)
        self._pad_id = pad_id
        self._joinable = True
        self._rows: list[EngineRequest] = []
        self._index: dict[EngineRequest, int] = {}
        self._cache: Any = None
        self._mask: torch.Tensor = torch_module.zeros((0, 0), dtype=torch_module.long)
        self._pending: list[int] = []
        self._positions: list[int] = []
        self._rngs: list[np.random.Generator] = []

    @property
    def can_join(self) -> bool:
        return self._joinable

    def detokenizer(self, prompt_ids: list[int]) -> Detokenizer:
        return IncrementalDecoder(self.tokenizer, prompt_ids[-DECODE_CONTEXT:])

    def admit(self, jobs: list[EngineRequest]) -> None:
        # Like TinyLM, prefill all but the last prompt token; that one is fed
        # by the next step, so new and running rows advance the same way.
        with self._torch.inference_mode():
            cache, mask = self._prefill([job.prompt_ids[:-1] for job in jobs])
            self._merge(cache, mask)
        for job in jobs:
            self._index[job] = len(self._rows)
            self._rows.append(job)
            self._pending.append(job.prompt_ids[-1])
            self._positions.append(len(job.prompt_ids) - 1)
            self._rngs.append(np.random.default_rng(job.params.seed))

    def step(self, jobs: list[EngineRequest]) -> list[int]:
        torch = self._torch
        with torch.inference_mode():
            ids = torch.tensor(self._pending, dtype=torch.long).view(-1, 1)
            mask = torch.cat([self._mask, torch.ones_like(ids)], dim=1)
            positions = torch.tensor(self._positions, dtype=torch.long).view(-1, 1)
            cache = self._cache if self._cache is not None else self._new_cache()
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                             use_cache=True, **{self._cache_keyword: cache})
            logits = out.logits[:, -1, :].float().numpy()
        self._cache, self._mask = _cache_of(out), mask
        params = [job.params for job in self._rows]
        tokens = sample(
            logits,
            np.array([p.temperature for p in params], dtype=np.float64),
            np.array([p.top_p for p in params], dtype=np.float64),
            self._rngs,
        )
        self._pending = tokens
        self._positions = [p + 1 for p in self._positions]
        return [tokens[self._index[job]] for job in jobs]

    def release(self, jobs: list[EngineRequest]) -> None:
        gone = {job for job in jobs if job in self._index}
        if not gone:
            return
        keep = [i for i, job in enumerate(self._rows) if job not in gone]
        self._rows = [self._rows[i] for i in keep]
        self._index = {job: i for i, job in enumerate(self._rows)}
        self._pending = [self._pending[i] for i in keep]
        self._positions = [self._positions[i] for i in keep]
        self._rngs = [self._rngs[i] for i in keep]
        if not keep:
            self._cache, self._mask = None, self._mask[:0, :0]
            self._joinable = True
            return
        rows = self._torch.tensor(keep, dtype=self._torch.long)
        self._mask = self._mask[rows]
        if self._cache is not None:
            self._cache.batch_select_indices(rows)
        self._trim()

    def _prefill(self, prompts: list[list[int]]) -> tuple[Any, torch.Tensor]:
        torch = self._torch
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            if prompt:
                ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
                mask[row, width - len(prompt) :] = 1
        if not width:
            return None, mask
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         use_cache=True, **{self._cache_keyword: self._new_cache()})
        cache = _cache_of(out)
        self._joinable = self._joinable and _is_plain(cache)
        return cache, mask

    def _merge(self, cache: Any, mask: torch.Tensor) -> None:
        """Stack new rows (their cache and mask) under the running ones."""
        if not self._rows:
            self._cache, self._mask = cache, mask
            return
        width = max(self._mask.shape[1], mask.shape[1])
        pad = self._torch.nn.functional.pad
        self._mask = self._torch.cat([pad(m, (width - m.shape[1], 0)) for m in (self._mask, mask)])
        if self._cache is None and cache is None:
            return
        old = _layers(self._cache, like=cache, rows=len(self._rows))
        new = _layers(cache, like=self._cache, rows=mask.shape[0])
        self._cache = self._cache_class([
            tuple(self._torch.cat([_pad_left(a, width, pad), _pad_left(b, width, pad)])
                  for a, b in zip(old_kv, new_kv, strict=True))
            for old_kv, new_kv in zip(old, new, strict=True)
        ])

    def _trim(self) -> None:
        """Drop leading columns that are padding in every remaining row."""
        used = self._mask.any(dim=0).nonzero()
        first = int(used[0, 0]) if len(used) else self._mask.shape[1]
        if first == 0 or not self._joinable or self._cache is None:
            return
        self._mask = self._mask[:, first:]
        self._cache = self._cache_class(
            [(k[:, :, first:], v[:, :, first:]) for k, v in _layers(self._cache, None, 0)]
        )

    def _new_cache(self) -> Any:
        return self._cache_class(config=self.model.config)


def _dynamic_cache() -> Any:
    from transformers import DynamicCache

    return DynamicCache


def _cache_keyword(model: Any) -> str:
    """How this model's ``forward`` takes the KV cache: ``cache`` from transformers 5.24
    (which deprecates ``past_key_values``), ``past_key_values`` before."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _cache_of(output: Any) -> Any:
    """The KV cache of a forward pass, under the output field's new name or its old one."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _is_plain(cache: Any) -> bool:
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in cache.layers)


def _layers(cache: Any, like: Any, rows: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) of every layer; zeros of length 0 shaped like ``like``
    when ``cache`` is None (rows whose whole prompt is the pending token)."""
    if cache is not None:
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(k.new_zeros((rows, k.shape[1], 0, k.shape[3])),
             v.new_zeros((rows, v.shape[1], 0, v.shape[3]))) for k, v in _layers(like, None, 0)]


def _pad_left(tensor: torch.Tensor, width: int, pad: Any) -> torch.Tensor:
    padded: torch.Tensor = pad(tensor, (0, 0, width - tensor.shape[2], 0))
    return padded
