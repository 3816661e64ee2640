"""Image backends: the built-in digit model and local diffusers pipelines,
both turning a prompt, a size and a seed into PNG bytes.

>>> from genweave.models.image import ImageSettings, load_image_backend
>>> backend = load_image_backend(ImageSettings(backend="builtin"))
>>> async def png() -> bytes:
...     return (await backend.draw("draw a 4", size=128, seed=0)).png

Only the chosen backend's module is imported (torch and diffusers never are
for the built-in one).
"""

from __future__ import annotations

from .auto import IMAGE_BACKENDS, load_image_backend
from .base import ImageBackend, Picture
from .config import ImageSettings
from .errors import ImageBackendClosed, ImageError, MissingImageDependency

__all__ = [
    "IMAGE_BACKENDS",
    "ImageBackend",
    "ImageBackendClosed",
    "ImageError",
    "ImageSettings",
    "MissingImageDependency",
    "Picture",
    "load_image_backend",
]
