"""Which image backend to run, and its settings: one Struct, read from the app's config.

>>> ImageSettings(backend="diffusers", path="/models/sd-turbo", steps=1, guidance=0.0)
... # doctest: +ELLIPSIS
ImageSettings(backend='diffusers', path='/models/sd-turbo', steps=1, guidance=0.0, ...)
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = ["DEFAULT_GUIDANCE", "DEFAULT_STEPS", "ImageSettings"]

BUILTIN: Final = "builtin"
DEFAULT_STEPS: Final = 25
"""Denoising steps: about the fewest at which Stable Diffusion 1.x/2.x look finished."""
DEFAULT_GUIDANCE: Final = 7.5
"""Classifier-free guidance scale: Stable Diffusion's own default."""


class ImageSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings for :func:`load_image_backend`; each backend reads the fields it needs.

    ``backend`` is ``"builtin"`` (the digit model; ``path`` optionally names
    other weights), ``"diffusers"`` (``path``: a local diffusers text-to-image
    pipeline directory, drawn with ``steps`` and ``guidance`` on ``threads``
    CPU threads), or the ``"module:Class"`` of any ``ImageBackend`` with a
    ``from_settings`` classmethod. Distilled models (SD-Turbo, LCM) want
    ``steps`` of 1-4 and ``guidance`` 0.
    """

    backend: str = BUILTIN
    path: str | None = None
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    threads: int | None = None
    """torch threads for the diffusers backend; None keeps its default."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.guidance < 0:
            raise ValueError(f"guidance must be 0 or more, got {self.guidance}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
