"""PostgreSQL through psycopg 3: state shared by processes on any number of hosts.

Connections come from a small pool (``psycopg_pool``), in autocommit mode
outside explicit transactions.  When the server goes away (a restart, a
failover, a network cut) the call that meets the broken connection fails with
:class:`~genweave._storage.errors.DatabaseUnavailable` (an ``Unavailable``:
callers may retry), the pool drops its other idle connections, and the next
call opens fresh ones.  A call that cannot get a connection within
``CONNECT_WAIT`` seconds fails the same way, so nothing hangs while the server
is down.  The URL's password never appears in an error or a log line.

Notifications (``LISTEN``/``NOTIFY``) get their own connection per listener,
in a thread that reconnects with backoff and says so (``on_connect``), so that
its owner can catch up on what it may have missed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from genweave._storage.database import Database, Dialect, Listener, Session
from genweave._storage.errors import DatabaseUnavailable
from genweave._storage.location import Location

__all__ = ["CONNECT_WAIT", "POOL_SIZE", "POSTGRESQL", "PostgresDatabase"]

logger = logging.getLogger("genweave.storage")

POSTGRESQL: Final = Dialect("postgresql", for_update=" FOR UPDATE",
                            skip_locked=" FOR UPDATE SKIP LOCKED")
POOL_SIZE: Final = 8
"""Connections per database object at most; one is kept open while idle."""
CONNECT_WAIT: Final = 5.0
"""Seconds a call waits for a connection before it fails with ``DatabaseUnavailable``."""
LISTEN_POLL: Final = 1.0
"""Seconds a listener waits for notifications before it looks whether it was closed."""
RECONNECT_BACKOFF: Final = (0.05, 5.0)
"""A listener's first and longest wait between attempts to reconnect."""
SCHEMA_LOCK: Final = 0x67656E77  # "genw": one advisory lock key for every genweave migration
_BROKEN_STATES: Final = ("08", "57P")  # connection exceptions; the server shutting down


class _PostgresSession:
    """One pooled connection; results are fetched in binary (vectors are bytes)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, statement: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(statement, params or None, binary=True)

    def executemany(self, statement: str, params: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor(binary=True) as cursor:
            cursor.executemany(statement, params)


class PostgresDatabase(Database):
    """A :class:`Database` on a PostgreSQL server.

    >>> database = PostgresDatabase(Location.parse("postgresql://app@db/genweave"))
    >>> with database.read() as db:
    ...     db.execute("SELECT 1").fetchone()
    (1,)
    """

    dialect = POSTGRESQL

    def __init__(self, location: Location, *, pool_size: int = POOL_SIZE) -> None:
        self.location = location
        self._pool = ConnectionPool(
            location.target, min_size=1, max_size=pool_size, open=False, timeout=CONNECT_WAIT,
            kwargs={"autocommit": True}, name=str(location))
        try:
            self._pool.open(wait=True, timeout=CONNECT_WAIT)
        except PoolTimeout as error:
            self._pool.close()
            raise self._unreachable(error) from None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        lost: psycopg.OperationalError | None = None
        try:
            with self._pool.connection() as conn:
                try:
                    yield conn
                except psycopg.OperationalError as error:
                    if not (conn.broken or (error.sqlstate or "").startswith(_BROKEN_STATES)):
                        raise
                    lost = error
        except PoolTimeout as error:
            raise self._unreachable(error) from None
        if lost is not None:
            self._pool.check()  # its other idle connections are as dead: drop them now
            raise DatabaseUnavailable(
                f"{self.location}: lost the connection to the PostgreSQL server "
                f"({self.location.scrub(str(lost).strip())}); the operation was not "
                "committed; retry it (the next attempt reconnects)"
            ) from None

    def _unreachable(self, error: Exception) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"{self.location}: cannot get a connection to the PostgreSQL server within "
            f"{CONNECT_WAIT:g} s ({self.location.scrub(str(error))}); check that it runs and "
            "that the URL (host, port, database, user, password) is right, then retry"
        )

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._connection() as conn:
            yield _PostgresSession(conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._connection() as conn, conn.transaction():
            yield _PostgresSession(conn)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Session]:
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield _PostgresSession(conn)
            finally:
                if not conn.broken:
                    conn.execute("COMMIT")

    def lock_schema(self, db: Session) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))

    def notify(self, db: Session, channel: str, payload: str) -> None:
        db.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def listen(self, channel: str, on_notify: Callable[[str], None],
               on_connect: Callable[[], None]) -> Listener | None:
        return _NotificationThread(self, channel, on_notify, on_connect)

    def close(self) -> None:
        self._pool.close()


class _NotificationThread:
    """``LISTEN channel`` on a connection of its own, in a daemon thread, until closed.

    Empty payloads only wake it (``close`` sends one so as not to wait a whole poll).
    """

    def __init__(self, database: PostgresDatabase, channel: str,
                 on_notify: Callable[[str], None], on_connect: Callable[[], None]) -> None:
        self._database, self._channel = database, channel
        self._on_notify, self._on_connect = on_notify, on_connect
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"genweave-listen-{channel}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wait, longest = RECONNECT_BACKOFF
        while not self._closed.is_set():
            try:
                self._serve()
                wait = RECONNECT_BACKOFF[0]
            except Exception as error:  # the server went away, or a callback failed: go on
                logger.warning("%s: notifications on %s stopped (%s); reconnecting in %g s",
                               self._database.location, self._channel,
                               self._database.location.scrub(str(error).strip()), wait)
            self._closed.wait(wait)
            wait = min(wait * 2, longest)

    def _serve(self) -> None:
        target = self._database.location.target
        with psycopg.connect(target, autocommit=True, connect_timeout=int(CONNECT_WAIT)) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self._on_connect()
            while not self._closed.is_set():
                for notification in conn.notifies(timeout=LISTEN_POLL):
                    if self._closed.is_set():
                        return
                    if notification.payload:
                        self._on_notify(notification.payload)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception), self._database.read() as db:
            self._database.notify(db, self._channel, "")  # wake it now
        self._thread.join()
