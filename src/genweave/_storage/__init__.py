"""Durable state for the framework and its apps: an embedded SQLite file or PostgreSQL.

SQLite (``sqlite.py``) is the default: nothing to run, one file per database,
shared by the processes of one host.  PostgreSQL (``postgres.py``) is for state
that replicas on several hosts share.  The job queue and the reference app's
vector store write their SQL once against :class:`Database` (``database.py``);
``location.py`` says which backend a setting names (and hides its password),
``schema.py`` versions their tables, and ``auto.py`` opens the backend a location names.
"""

from genweave._storage.auto import open_database
from genweave._storage.database import Database, Dialect, Listener, Rows, Session
from genweave._storage.errors import DatabaseUnavailable, SchemaTooNew, StorageError
from genweave._storage.location import (
    DATABASE_URL_ENV,
    DATABASE_URL_SETTING,
    Backend,
    Location,
    redact,
    resolve_location,
)
from genweave._storage.schema import Migration, Schema, migrate, plan, stored_version

__all__ = [
    "DATABASE_URL_ENV",
    "DATABASE_URL_SETTING",
    "Backend",
    "Database",
    "DatabaseUnavailable",
    "Dialect",
    "Listener",
    "Location",
    "Migration",
    "Rows",
    "Schema",
    "SchemaTooNew",
    "Session",
    "StorageError",
    "migrate",
    "open_database",
    "plan",
    "redact",
    "resolve_location",
    "stored_version",
]
