"""Which backend serves a location: SQLite for a path, PostgreSQL for a URL.

psycopg is an optional dependency (``pip install 'genweave[postgres]'``), so the
PostgreSQL backend is imported only when a location names it.
"""

from __future__ import annotations

import os

from genweave._storage.database import Database
from genweave._storage.errors import StorageError
from genweave._storage.location import Location

__all__ = ["open_database"]


def open_database(location: str | os.PathLike[str] | Location) -> Database:
    """The database at ``location``: a SQLite file path or a ``postgresql://`` URL."""
    where = Location.parse(location)
    if where.backend == "sqlite":
        from genweave._storage.sqlite import SQLiteDatabase

        return SQLiteDatabase(where)
    try:
        from genweave._storage.postgres import PostgresDatabase
    except ImportError as error:
        raise StorageError(
            f"{where}: the PostgreSQL backend needs psycopg ({error}); "
            "install it with: pip install 'genweave[postgres]'"
        ) from None
    return PostgresDatabase(where)
