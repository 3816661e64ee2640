"""The Generator: text generation behind one interface, whichever backend runs.

The backend is chosen in ``[components.Generator]`` (``backend = "builtin"``,
``"transformers"`` with a local model ``path``, or ``"openai"`` with a
``base_url``), so swapping the demo model for a real one is one line of config.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from genweave._aio import closing_stream
from genweave.app.types import ChatMessage
from genweave.component import component, method
from genweave.models.generation.auto import load_backend
from genweave.models.generation.base import GenerationParams, TextBackend, TextDelta
from genweave.models.generation.config import BackendSettings

__all__ = ["Generator", "GeneratorSettings"]

DEFAULT_MODEL_IDS = {"builtin": "genweave-tinylm", "transformers": "local-transformers"}


class GeneratorSettings(BackendSettings, frozen=True, kw_only=True):
    model_id: str = ""
    """The id clients use in requests; defaults to one naming the backend."""


@component(role="inference", config=GeneratorSettings)
class Generator:
    """Streams text; concurrent requests share batches inside the backend."""

    config: GeneratorSettings

    async def on_start(self) -> None:
        self._backend: TextBackend = await asyncio.to_thread(load_backend, self.config)

    async def on_stop(self) -> None:
        await self._backend.close()

    async def generate(self, prompt: str, params: GenerationParams) -> AsyncIterator[TextDelta]:
        """Continue ``prompt``. Leaving the stream early stops the work behind it."""
        async with closing_stream(self._backend.generate(prompt, params)) as deltas:
            async for delta in deltas:
                yield delta

    async def chat(self, messages: list[ChatMessage],
                   params: GenerationParams) -> AsyncIterator[TextDelta]:
        """Answer the conversation's last message as the assistant."""
        async with closing_stream(self._backend.chat(messages, params)) as deltas:
            async for delta in deltas:
                yield delta

    @method(idempotent=True)
    async def count_tokens(self, text: str) -> int:
        return await self._backend.count_tokens(text)

    @method(idempotent=True)
    async def model_id(self) -> str:
        return self.config.model_id or DEFAULT_MODEL_IDS.get(self.config.backend,
                                                            self.config.model or "remote")
