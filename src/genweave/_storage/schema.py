"""Versioned schemas: a newer genweave upgrades an older database; an older one refuses.

A schema is a list of migrations; applying the first ``n`` gives version ``n``.
Each migration has its statements in both dialects, so a version number means
the same tables in SQLite and in PostgreSQL.  The version of each schema in a
database is a row of ``schema_versions``.  Opening a database migrates it in
one transaction that every process takes in turn (SQLite's write lock, a
PostgreSQL advisory lock), so replicas starting together upgrade it once.
A database from before versioning has no row: it counts as version 0, and the
first migration is written to be a no-op on it (``IF NOT EXISTS``).

The decision (:func:`plan`) is a pure rule, tested alone; :func:`migrate` acts on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from genweave._storage.database import Database, Session
from genweave._storage.errors import SchemaTooNew
from genweave._storage.location import Location

__all__ = ["Migration", "Schema", "migrate", "plan", "stored_version"]

_VERSIONS = """CREATE TABLE IF NOT EXISTS schema_versions (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One step from version ``n - 1`` to ``n``: its statements in each dialect."""

    sqlite: Sequence[str]
    postgresql: Sequence[str]

    def statements(self, dialect: str) -> Sequence[str]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


@dataclass(frozen=True, slots=True)
class Schema:
    """The tables of one part of genweave (the job queue, the vector store)."""

    name: str
    migrations: Sequence[Migration]

    @property
    def version(self) -> int:
        return len(self.migrations)


def plan(schema: Schema, stored: int, where: Location | str) -> range:
    """The versions to apply to a database at version ``stored``; refuses a newer one."""
    if stored > schema.version:
        raise SchemaTooNew(
            f"{where}: the {schema.name} schema is at version {stored}, written by a newer "
            f"genweave; this one knows versions up to {schema.version}. Upgrade genweave "
            "on every process that uses this database (pip install -U genweave), or "
            "point this one at another database"
        )
    return range(stored + 1, schema.version + 1)


def stored_version(db: Session, schema: Schema) -> int:
    """The schema's version in the database (0: not versioned yet); needs ``schema_versions``."""
    row = db.execute("SELECT version FROM schema_versions WHERE name = %s",
                     (schema.name,)).fetchone()
    return 0 if row is None else int(row[0])


def migrate(database: Database, schema: Schema) -> int:
    """Brings the database's tables to the schema's version; returns the version it found."""
    with database.transaction() as db:
        database.lock_schema(db)
        db.execute(_VERSIONS)
        stored = stored_version(db, schema)
        for version in plan(schema, stored, database.location):
            for statement in schema.migrations[version - 1].statements(database.dialect.name):
                db.execute(statement)
        if stored != schema.version:
            db.execute(
                "INSERT INTO schema_versions (name, version) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                (schema.name, schema.version))
    return stored
