"""Any local Hugging Face causal LM, on CPU, behind the continuous-batching engine.

The model directory is the one ``save_pretrained`` writes (config, weights,
tokenizer files); nothing is downloaded, whatever the environment says.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from .base import GenerationParams, TextBackend, TextDelta
from .chat import Message
from .engine import DEFAULT_MAX_WAITING, Engine
from .errors import PromptTooLong
from .hf_runner import HFRunner
from .importer import require

if TYPE_CHECKING:
    from .config import BackendSettings

__all__ = ["TransformersBackend"]

DEFAULT_MAX_BATCH_SIZE: Final = 16
DEFAULT_THREADS: Final = max(1, (os.cpu_count() or 1) // 2)
OFFLINE_VARIABLES: Final = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
BACKEND: Final = "transformers"


def import_torch_and_transformers() -> tuple[ModuleType, ModuleType]:
    """torch and transformers, with the Hugging Face Hub switched off first."""
    for variable in OFFLINE_VARIABLES:
        os.environ.setdefault(variable, "1")
    return require("torch", backend=BACKEND), require("transformers", backend=BACKEND)


class TransformersBackend(TextBackend):
    """A Hugging Face causal LM (GPT-2, Llama, Qwen, SmolLM...) from a local directory.

    Concurrent requests are batched continuously, each row with its own
    sampling settings and seed. Chat uses the tokenizer's chat template when
    it has one, and a plain transcript otherwise.

    >>> backend = TransformersBackend.load("/models/SmolLM2-135M-Instruct", threads=2)
    >>> stream = backend.chat([ChatMessage("user", "Hi!")], GenerationParams(max_tokens=50))

    ``threads`` sets torch's intra-op threads for the whole process (torch
    has no per-model setting).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "",
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        torch, _ = import_torch_and_transformers()
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = name or str(getattr(model.config, "name_or_path", "")) or "model"
        self.context_length = _context_length(model)
        eos_ids = _eos_ids(model, tokenizer)
        self._start_id = _start_id(tokenizer, eos_ids)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        runner = HFRunner(model, tokenizer, torch, eos_ids=eos_ids, pad_id=pad_id)
        self.engine = Engine(runner, max_batch_size=max_batch_size, max_waiting=max_waiting,
                             name=f"{self.model_name} engine")

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        threads: int = DEFAULT_THREADS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> TransformersBackend:
        """Load the model and tokenizer saved in directory ``path`` (blocking:
        call it in a thread from async code)."""
        directory = Path(path).expanduser()
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(
                f"{BACKEND} backend: {directory} is not a Hugging Face model directory "
                "(no config.json); give the folder that save_pretrained wrote"
            )
        torch, transformers = import_torch_and_transformers()
        torch.set_num_threads(threads)
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            directory, local_files_only=True, dtype=torch.float32
        )
        model.eval()
        return cls(model, tokenizer, name=directory.name, max_batch_size=max_batch_size,
                   max_waiting=max_waiting)

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> TransformersBackend:
        if not settings.path:
            raise ValueError(f"{BACKEND} backend: set 'path' to a Hugging Face model directory")
        return cls.load(
            settings.path, threads=settings.threads or DEFAULT_THREADS,
            max_batch_size=settings.max_batch_size or DEFAULT_MAX_BATCH_SIZE,
            max_waiting=settings.max_waiting,
        )

    @property
    def name(self) -> str:
        return f"{self.model_name} ({BACKEND})"

    def generate(self, prompt: str, params: GenerationParams) -> AsyncGenerator[TextDelta, None]:
        return self._generate_ids(self._encode(prompt, special=True), params)

    def chat(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[TextDelta, None]:
        if not getattr(self.tokenizer, "chat_template", None):
            return super().chat(messages, params)
        text = self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=True, tokenize=False,
        )
        # The template already wrote any special tokens the model expects.
        return self._generate_ids(self._encode(str(text), special=False), params)

    async def count_tokens(self, text: str) -> int:
        return len(self._encode(text, special=False))

    async def close(self) -> None:
        await self.engine.close()

    def _encode(self, text: str, *, special: bool) -> list[int]:
        ids: list[int] = list(self.tokenizer(text, add_special_tokens=special)["input_ids"])
        if ids:
            return ids
        if self._start_id is None:
            raise ValueError(
                f"{self.name}: the prompt is empty and the tokenizer has no BOS or EOS token "
                "to start from; give a prompt of at least one token"
            )
        return [self._start_id]

    def _generate_ids(
        self, ids: list[int], params: GenerationParams
    ) -> AsyncGenerator[TextDelta, None]:
        room = params.max_tokens
        if self.context_length is not None:
            room = min(room, self.context_length - len(ids))
            if room < 1:
                raise PromptTooLong(
                    f"{self.name}: the prompt is {len(ids)} tokens but the model's context "
                    f"holds {self.context_length}; shorten the prompt"
                )
        return self.engine.generate(ids, params, limit=room)


def _context_length(model: Any) -> int | None:
    value = getattr(model.config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) else None


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(v for v in value if isinstance(v, int))
    return frozenset(ids)


def _start_id(tokenizer: Any, eos_ids: frozenset[int]) -> int | None:
    """What an empty prompt becomes: the model needs at least one token to continue."""
    if tokenizer.bos_token_id is not None:
        return int(tokenizer.bos_token_id)
    return min(eos_ids) if eos_ids else None
