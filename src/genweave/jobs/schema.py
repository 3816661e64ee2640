"""The job queue's tables, versioned (see :mod:`genweave._storage.schema`).

Version 1 is the table of the first release (a SQLite file from before
versioning is at version 0 and gets a ``schema_versions`` row, nothing else).
In PostgreSQL, ``rowid`` is an identity column: the insertion order that
SQLite's implicit ``rowid`` gives, so the queue's SQL is the same for both.
"""

from __future__ import annotations

from typing import Final

from genweave._storage import Migration, Schema

__all__ = ["JOBS_SCHEMA", "JOB_COLUMNS"]

JOB_COLUMNS: Final = (
    "id, kind, key, state, payload, result, error, done, total, message, "
    "attempts, max_attempts, lease, lease_expires, created, updated"
)

_V1_SQLITE: Final = (
    """CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT UNIQUE,
    state TEXT NOT NULL,
    payload BLOB NOT NULL,
    result BLOB,
    error TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease TEXT,
    lease_expires REAL,
    lease_seconds REAL,
    created REAL NOT NULL,
    updated REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, kind, created)",
)
_V1_POSTGRESQL: Final = (
    """CREATE TABLE IF NOT EXISTS jobs (
    rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT UNIQUE,
    state TEXT NOT NULL,
    payload BYTEA NOT NULL,
    result BYTEA,
    error TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease TEXT,
    lease_expires DOUBLE PRECISION,
    lease_seconds DOUBLE PRECISION,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, kind, created)",
)

JOBS_SCHEMA: Final = Schema("job queue", [Migration(_V1_SQLITE, _V1_POSTGRESQL)])
