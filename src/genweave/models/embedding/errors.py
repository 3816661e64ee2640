"""What can go wrong while loading or running an embedding model.

::

    GenweaveError
    └── EmbeddingError              base of every embedding-backend error
        ├── MissingDependency       an optional package is not installed (ImportError)
        └── ModelNotFound           no model at the given path (FileNotFoundError)
"""

from __future__ import annotations

from typing import Final

from genweave.errors import GenweaveError

__all__ = ["EmbeddingError", "MissingDependency", "ModelNotFound"]

MODELS_EXTRA: Final = "pip install genweave[models]"


class EmbeddingError(GenweaveError):
    """Base class of the errors raised by embedding backends."""


class MissingDependency(EmbeddingError, ImportError):
    """A backend needs an optional package that is not installed."""

    def __init__(self, package: str, backend: str) -> None:
        super().__init__(
            f"the {backend} embedding backend needs the '{package}' package, which is not "
            f"installed; install it with `{MODELS_EXTRA}`"
        )


class ModelNotFound(EmbeddingError, FileNotFoundError):
    """The path given for a model is not a directory holding one."""
