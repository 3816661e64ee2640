"""The Illustrator: text to image, with the built-in digit model by default."""

from __future__ import annotations

import asyncio
import random
from typing import Final, Literal

import msgspec

from genweave.app.types import Image
from genweave.component import component, method

__all__ = ["Illustrator", "IllustratorSettings"]

MODEL_ID: Final = "genweave-digits"
MIN_SIZE: Final = 8
MAX_SIZE: Final = 1024


class IllustratorSettings(msgspec.Struct, frozen=True):
    backend: Literal["builtin"] = "builtin"
    path: str | None = None
    """A weights file for the built-in model; None means the one shipped with genweave."""


@component(role="inference", config=IllustratorSettings)
class Illustrator:
    """Draws a PNG for a prompt.  Generation runs in a thread: it is CPU-bound."""

    config: IllustratorSettings

    async def on_start(self) -> None:
        from genweave.models.digits import DigitPainter

        self._painter = await asyncio.to_thread(DigitPainter.load, self.config.path)

    @method(timeout=30.0)
    async def draw(self, prompt: str, size: int = 256, seed: int | None = None) -> Image:
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
        chosen = seed if seed is not None else random.randrange(2**31)
        drawing = await asyncio.to_thread(self._painter.draw_with_info, prompt, chosen, size)
        origin = "from the prompt" if drawing.digit_from_prompt else "chosen by the seed"
        return Image(drawing.png, prompt, chosen, f"digit {drawing.digit} ({origin})")

    @method(idempotent=True)
    async def model_id(self) -> str:
        return MODEL_ID
