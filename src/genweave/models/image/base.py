"""The interface of an image backend, and the picture it returns.

Every backend (the built-in digit model, a local diffusers pipeline) turns a
prompt, a size and a seed into PNG bytes, so the Illustrator component, and
everything behind it, does not care which one runs.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genweave.models.loading import ClosingBackend

if TYPE_CHECKING:
    pass

__all__ = ["ImageBackend", "Picture"]


@dataclass(frozen=True)
class Picture:
    """A drawn image: a square PNG, and a few words on how it was made
    (``"digit 7 (from the prompt)"``, ``"sd-turbo, 2 steps, guidance 0"``)."""

    png: bytes
    detail: str


class ImageBackend(ClosingBackend):
    """A text-to-image model: a prompt in, a square PNG out.

    Implementations: ``BuiltinImageBackend`` (the digit model shipped with
    genweave) and ``DiffusersBackend`` (a local diffusers pipeline);
    ``load_image_backend`` picks one from config. The same prompt, size and
    seed give the same bytes.

    >>> async def main(backend: ImageBackend) -> bytes:
    ...     async with backend:
    ...         picture = await backend.draw("a lighthouse at dusk", size=256, seed=7)
    ...     return picture.png
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short human-readable name, e.g. ``"digits (builtin)"``."""

    @abc.abstractmethod
    async def draw(self, prompt: str, size: int, seed: int) -> Picture:
        """Draw ``prompt`` as a ``size`` x ``size`` PNG, reproducibly for ``seed``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Wait for the drawing in progress, then release the model."""

