"""The Illustrator: text to image, whichever image backend runs.

The backend is chosen in ``[components.Illustrator]``: the built-in digit
model by default, or ``backend = "diffusers"`` with the ``path`` of a local
diffusers pipeline directory (a Stable Diffusion checkpoint saved with
``save_pretrained``), so swapping the demo model for a real one is one line
of config::

    [components.Illustrator]
    backend = "diffusers"
    path = "/models/sd-turbo"
    steps = 2
    guidance = 0.0
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Final

from genweave.app.types import Image
from genweave.component import component, method
from genweave.models.image.auto import load_image_backend
from genweave.models.image.base import ImageBackend
from genweave.models.image.config import BUILTIN, ImageSettings

__all__ = ["Illustrator", "IllustratorSettings"]

MODEL_ID: Final = "genweave-digits"
MIN_SIZE: Final = 8
MAX_SIZE: Final = 1024
SEED_RANGE: Final = 2**31
DRAW_TIMEOUT: Final = 300.0
"""Seconds per drawing: a diffusion model on CPU takes minutes at full size.
Callers that need an answer sooner (the Assistant) set their own deadline."""


class IllustratorSettings(ImageSettings, frozen=True, kw_only=True):
    """Which image backend draws, and how; see :class:`ImageSettings`.

    >>> IllustratorSettings(backend="diffusers", path="/models/sd-turbo", steps=2)
    ... # doctest: +ELLIPSIS
    IllustratorSettings(backend='diffusers', path='/models/sd-turbo', steps=2, ...)
    """


@component(role="inference", config=IllustratorSettings)
class Illustrator:
    """Draws a PNG for a prompt.  Generation runs in a thread: it is CPU-bound."""

    config: IllustratorSettings

    async def on_start(self) -> None:
        self._backend: ImageBackend = await asyncio.to_thread(load_image_backend, self.config)

    async def on_stop(self) -> None:
        await self._backend.close()

    @method(timeout=DRAW_TIMEOUT)
    async def draw(self, prompt: str, size: int = 256, seed: int | None = None) -> Image:
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
        chosen = seed if seed is not None else random.randrange(SEED_RANGE)
        picture = await self._backend.draw(prompt, size, chosen)
        return Image(picture.png, prompt, chosen, picture.detail)

    @method(idempotent=True)
    async def model_id(self) -> str:
        if self.config.backend == BUILTIN:
            return MODEL_ID
        if self.config.path:
            return Path(self.config.path).expanduser().name
        return self._backend.name
