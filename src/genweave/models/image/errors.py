"""What can go wrong while drawing images, whatever the backend.

::

    GenweaveError
    └── ImageError                  base of every image-backend error
        ├── ImageBackendClosed      the backend was closed; create a new one
        └── MissingImageDependency  an optional package is not installed (ImportError)

A directory that holds no pipeline raises ``FileNotFoundError`` (as the text
backends do), so callers can tell a wrong path from a broken model.
"""

from __future__ import annotations

from typing import Final

from genweave.errors import GenweaveError

__all__ = ["IMAGES_EXTRA", "ImageBackendClosed", "ImageError", "MissingImageDependency"]

IMAGES_EXTRA: Final = "pip install genweave[images]"


class ImageError(GenweaveError):
    """Base class of the errors raised by image backends."""


class ImageBackendClosed(ImageError):
    """The backend was closed, so it draws nothing more."""


class MissingImageDependency(ImageError, ImportError):
    """An image backend needs an optional package that is not installed.

    >>> str(MissingImageDependency("diffusers", "diffusers"))  # doctest: +ELLIPSIS
    "the diffusers image backend needs the 'diffusers' package, ... `pip install genweave[images]`"
    """

    def __init__(self, package: str, backend: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"the {backend} image backend needs the '{package}' package, which could not be "
            f"imported{detail}; install it with `{IMAGES_EXTRA}`"
        )
