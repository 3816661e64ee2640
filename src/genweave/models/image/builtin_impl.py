"""The built-in image backend: the digit model shipped with genweave.

It needs nothing beyond numpy and downloads nothing, so the reference app
draws out of the box; swap in a real model with one line of config
(``backend = "diffusers"`` and a ``path``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Final

from genweave.models.digits import DigitPainter

from .base import ImageBackend, Picture
from .errors import ImageBackendClosed

if TYPE_CHECKING:
    from .config import ImageSettings

__all__ = ["BuiltinImageBackend"]

MODEL_NAME: Final = "digits"


class BuiltinImageBackend(ImageBackend):
    """:class:`DigitPainter` behind the :class:`ImageBackend` interface.

    The painter is plain numpy without shared state, so concurrent drawings
    run side by side in worker threads.

    >>> backend = BuiltinImageBackend.load()
    >>> async def detail() -> str:   # 'digit 7 (from the prompt)'
    ...     return (await backend.draw("draw a seven", size=64, seed=3)).detail
    """

    def __init__(self, painter: DigitPainter) -> None:
        self.painter = painter
        self._closed = False

    @classmethod
    def load(cls, path: str | Path | None = None) -> BuiltinImageBackend:
        """Load the digit decoder from ``path``, or the one shipped with genweave."""
        return cls(DigitPainter.load(path))

    @classmethod
    def from_settings(cls, settings: ImageSettings) -> BuiltinImageBackend:
        return cls.load(settings.path)

    @property
    def name(self) -> str:
        return f"{MODEL_NAME} (builtin)"

    async def draw(self, prompt: str, size: int, seed: int) -> Picture:
        if self._closed:
            raise ImageBackendClosed(f"{self.name} image backend is closed")
        drawing = await asyncio.to_thread(self.painter.draw_with_info, prompt, seed, size)
        origin = "from the prompt" if drawing.digit_from_prompt else "chosen by the seed"
        return Picture(drawing.png, f"digit {drawing.digit} ({origin})")

    async def close(self) -> None:
        self._closed = True
