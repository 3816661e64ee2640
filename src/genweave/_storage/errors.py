"""The storage layer's errors: a database that cannot be used, reached, or understood."""

from __future__ import annotations

from genweave.errors import GenweaveError, Unavailable

__all__ = ["DatabaseUnavailable", "SchemaTooNew", "StorageError"]


class StorageError(GenweaveError):
    """A database cannot be used as asked (a bad location, a missing driver, a bad schema)."""


class DatabaseUnavailable(StorageError, Unavailable):
    """The database server cannot be reached now: the operation was not committed.

    An :class:`~genweave.errors.Unavailable`, so a caller through a Ref sees a
    503 and retries an idempotent call; once the server is back, the next
    operation opens a fresh connection.
    """


class SchemaTooNew(StorageError):
    """The database was written by a newer genweave, whose schema this one does not know."""
