"""Choosing an image backend by name, importing only the one that is used.

The table maps each name to ``"module:attribute"`` (uvicorn's convention), so
that picking the built-in digit model never imports torch or diffusers.
"""

from __future__ import annotations

from typing import Final

from genweave.models.generation.importer import import_from_string

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
    name = settings.backend
    if name not in IMAGE_BACKENDS and ":" not in name:
        known = ", ".join(sorted(IMAGE_BACKENDS))
        raise ValueError(
            f"unknown image backend {name!r}; use one of {known}, or 'module:Class' for your own"
        )
    cls = import_from_string(IMAGE_BACKENDS.get(name, name))
    if not (isinstance(cls, type) and issubclass(cls, ImageBackend)):
        raise TypeError(f"image backend {name!r} is {cls!r}, which is not an ImageBackend subclass")
    backend: ImageBackend = cls.from_settings(settings)
    return backend
