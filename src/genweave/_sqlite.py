"""SQLite files shared by threads and processes: the embedded default for durable state.

One connection per thread (sqlite3 connections must not be shared), WAL so that
readers never block the writer, and ``BEGIN IMMEDIATE`` transactions that take
the write lock up front, so two writers never deadlock upgrading a read lock.
Used by the job queue and the vector store.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["BUSY_TIMEOUT_MS", "SQLiteFile"]

BUSY_TIMEOUT_MS: Final = 10_000
"""How long a writer waits for another process's transaction before failing."""


class SQLiteFile:
    """Per-thread connections to one database file.

    Example::

        sql = SQLiteFile("state.db")
        with sql.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)")
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (autocommit outside transactions)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self._local.db = db
            with self._guard:
                self._connections.append(db)
        return db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection; the file must not be used afterwards."""
        with self._guard:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
