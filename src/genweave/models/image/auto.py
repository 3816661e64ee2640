"""Choosing an image backend by name, importing only the one that is used.

The table maps each name to ``"module:attribute"`` (uvicorn's convention), so
that picking the built-in digit model never imports torch or diffusers.
"""

from __future__ import annotations

from typing import Final

from genweave.models.loading import backend_class

from .base import ImageBackend
from .config import ImageSettings

__all__ = ["IMAGE_BACKENDS", "load_image_backend"]

IMAGE_BACKENDS: Final = {
    "builtin": "genweave.models.image.builtin_impl:BuiltinImageBackend",
    "diffusers": "genweave.models.image.diffusers_impl:DiffusersBackend",
}


def load_image_backend(settings: ImageSettings) -> ImageBackend:
    """Create the image backend ``settings`` describe. Loading a model blocks:
    from async code, call this with ``asyncio.to_thread``.

    >>> backend = load_image_backend(ImageSettings())                  # the digit model
    >>> backend = load_image_backend(ImageSettings(backend="diffusers", path="/models/sd"))
    ... # doctest: +SKIP
    """
    cls = backend_class(IMAGE_BACKENDS, settings.backend, ImageBackend, "image")
    backend: ImageBackend = cls.from_settings(settings)
    return backend
