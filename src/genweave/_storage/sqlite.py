"""SQLite files shared by threads and processes: the embedded default for durable state.

One connection per thread (sqlite3 connections must not be shared), WAL so that
readers never block the writer, and ``BEGIN IMMEDIATE`` transactions that take
the write lock up front, so two writers never deadlock upgrading a read lock
(and no statement needs a row lock: a write transaction already excludes every
other writer).  ``synchronous=NORMAL``: a commit survives the process being
killed; only an OS crash or a power cut can lose the last commits.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from genweave._storage.database import Database, Dialect, Listener, Session
from genweave._storage.location import Location

__all__ = ["BUSY_TIMEOUT_MS", "SQLITE", "SQLiteDatabase", "SQLiteFile"]

BUSY_TIMEOUT_MS: Final = 10_000
"""How long a writer waits for another process's transaction before failing."""
SQLITE: Final = Dialect("sqlite", for_update="", skip_locked="")


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
    def transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """A transaction, by default a write one: committed when the block ends, rolled
        back if it raises.  ``BEGIN IMMEDIATE`` takes the write lock now: no upgrade deadlocks."""
        db = self.connection()
        db.execute(begin)
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


class _SQLiteSession:
    """The shared SQL's ``%s`` placeholders, as sqlite3's ``?``."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(_qmark(sql), params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(_qmark(sql), params)


@functools.lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    return sql.replace("%s", "?")


class SQLiteDatabase(Database):
    """A :class:`Database` in one SQLite file; the directory is created if missing."""

    dialect = SQLITE

    def __init__(self, location: Location) -> None:
        self.location = location
        location.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = SQLiteFile(location.path)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        yield _SQLiteSession(self.file.connection())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.file.transaction() as db:
            yield _SQLiteSession(db)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Session]:
        with self.file.transaction("BEGIN") as db:  # a read transaction is a snapshot in WAL
            yield _SQLiteSession(db)

    def lock_schema(self, db: Session) -> None:
        """Nothing to do: the migration's write transaction already excludes the others."""

    def notify(self, db: Session, channel: str, payload: str) -> None:
        """Nothing to do: SQLite has no notifications; readers check a revision instead."""

    def listen(self, channel: str, on_notify: Callable[[str], None],
               on_connect: Callable[[], None]) -> Listener | None:
        return None

    def close(self) -> None:
        self.file.close()
