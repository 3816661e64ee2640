"""The built-in backend: TinyLM, shipped with genweave, served by continuous batching.

It needs nothing beyond numpy and downloads nothing, so the reference app
runs out of the box; swap in a real model with one line of config
(``backend = "transformers"`` or ``"openai"``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from genweave.models.tinylm import Sequence, TinyLM

from .base import GenerationParams, TextBackend, TextDelta
from .engine import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_WAITING,
    Detokenizer,
    Engine,
    EngineRequest,
    Runner,
)
from .errors import WeightsNotFound

if TYPE_CHECKING:
    from .config import BackendSettings

__all__ = ["BuiltinBackend", "TinyLMRunner"]

MODEL_NAME: Final = "tinylm"


class TinyLMRunner(Runner):
    """Drives TinyLM for the engine: one KV-cache row (a ``Sequence``) per job.

    >>> engine = Engine(TinyLMRunner(TinyLM.load()), max_batch_size=32)
    """

    def __init__(self, model: TinyLM) -> None:
        self.model = model
        self.eos_ids = frozenset({model.eos_id})
        self._sequences: dict[EngineRequest, Sequence] = {}

    def admit(self, jobs: list[EngineRequest]) -> None:
        for job in jobs:
            p = job.params
            self._sequences[job] = self.model.start(
                job.prompt_ids, temperature=p.temperature, top_p=p.top_p, seed=p.seed
            )

    def step(self, jobs: list[EngineRequest]) -> list[int]:
        return self.model.step([self._sequences[job] for job in jobs])

    def release(self, jobs: list[EngineRequest]) -> None:
        for job in jobs:
            seq = self._sequences.pop(job, None)
            if seq is not None:
                seq.close()

    def detokenizer(self, prompt_ids: list[int]) -> Detokenizer:
        return self.model.stream_decoder()


class BuiltinBackend(TextBackend):
    """TinyLM behind a continuous-batching engine.

    Concurrent requests share every decode step (up to ``max_batch_size``);
    ``max_batch_size=1`` serves them one at a time instead, the unbatched
    baseline of ``bench/generation.py``. Outputs depend on the seed only, not
    on which requests shared a batch.

    >>> backend = BuiltinBackend.load()
    >>> async def main() -> None:
    ...     async for delta in backend.generate("The while statement",
    ...                                         GenerationParams(max_tokens=40, seed=0)):
    ...         print(delta.text, end="")
    ...     await backend.close()
    """

    def __init__(
        self,
        model: TinyLM,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        self.model = model
        self.engine = Engine(
            TinyLMRunner(model), max_batch_size=max_batch_size, max_waiting=max_waiting,
            name=f"{MODEL_NAME} engine",
        )

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> BuiltinBackend:
        """Load TinyLM from a weights file, or the weights shipped with genweave."""
        if path is not None and not Path(path).is_file():
            raise WeightsNotFound(
                f"{path}: no such weights file; set the Generator's path to a file written by "
                "training/train_tinylm.py, or leave it unset for the built-in TinyLM")
        return cls(TinyLM.load(path), max_batch_size=max_batch_size, max_waiting=max_waiting)

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> BuiltinBackend:
        return cls.load(
            settings.path, max_batch_size=settings.max_batch_size or DEFAULT_MAX_BATCH_SIZE,
            max_waiting=settings.max_waiting,
        )

    @property
    def name(self) -> str:
        return f"{MODEL_NAME} (builtin)"

    def generate(self, prompt: str, params: GenerationParams) -> AsyncGenerator[TextDelta, None]:
        return self.engine.generate(self.model.encode(prompt), params, limit=params.max_tokens)

    async def count_tokens(self, text: str) -> int:
        return len(self.model.encode(text))

    async def close(self) -> None:
        await self.engine.close()
