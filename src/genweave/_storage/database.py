"""What the job queue and the vector store ask of a database, whichever backend it is.

Their SQL is written once, with ``%s`` placeholders, in the subset that SQLite
and PostgreSQL share; a :class:`Dialect` holds the few fragments that differ
(row locks, which SQLite does without because its writers take the one write
lock up front).  A :class:`Database` hands out sessions: one for plain reads,
one for a write transaction, one for a consistent read-only snapshot.

>>> database = open_database("state.db")   # auto.py; or "postgresql://app@db/genweave"
>>> with database.transaction() as db:
...     db.execute("INSERT INTO kv VALUES (%s, %s)", ("k", "v"))
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from genweave._storage.location import Location

__all__ = ["Database", "Dialect", "Listener", "Rows", "Session"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL fragments in which the backends differ."""

    name: str
    for_update: str
    """Appended to a SELECT that must lock its rows until the transaction ends."""
    skip_locked: str
    """Appended to a SELECT that takes rows no other transaction has locked (a queue's claim)."""


class Rows(Protocol):
    """The result of a statement (a DB-API cursor of either driver)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Session(Protocol):
    """One connection for the length of a ``with`` block."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None: ...


class Listener(Protocol):
    """A background subscription to a notification channel; ``close`` ends it."""

    def close(self) -> None: ...


class Database(abc.ABC):
    """A database of either backend; subclasses say how to connect."""

    location: Location
    dialect: Dialect

    @abc.abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Session]:
        """A session for reads, each statement on its own (autocommit)."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Session]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    @abc.abstractmethod
    def snapshot(self) -> contextlib.AbstractContextManager[Session]:
        """A read-only transaction whose statements all see the same committed state."""

    @abc.abstractmethod
    def lock_schema(self, db: Session) -> None:
        """Serialises schema migrations by every process (inside a transaction)."""

    @abc.abstractmethod
    def notify(self, db: Session, channel: str, payload: str) -> None:
        """Tells the channel's listeners, once the transaction of ``db`` commits."""

    @abc.abstractmethod
    def listen(self, channel: str, on_notify: Callable[[str], None],
               on_connect: Callable[[], None]) -> Listener | None:
        """Calls ``on_notify(payload)`` for each notification on ``channel``, from a thread,
        and ``on_connect()`` each time it (re)connects (notifications may have been missed).
        ``None`` where the backend has no notifications (readers then rely on polling)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Closes every connection; the database must not be used afterwards."""

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
