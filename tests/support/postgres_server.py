"""A throwaway PostgreSQL server for the tests, and the ``backend`` fixture that runs a
storage test on SQLite and on PostgreSQL.

The server is Debian's ``postgresql`` package (``scripts/install-postgres``):
``initdb`` into a temporary directory, ``pg_ctl start`` listening only on a
Unix socket in that directory, trust authentication, no fsync.  As root it runs
as the unprivileged ``postgres`` user, which owns the directory.  It starts once
per test session, on first use; every test gets fresh databases; at the end the
server is stopped and the directory removed, also when tests failed.  Without
the package the PostgreSQL cases are skipped with a message (failed under CI).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

__all__ = ["BACKENDS", "Backend", "PostgresServer", "backend", "find_bindir", "postgres_server"]

SUPERUSER: Final = "postgres"
START_TIMEOUT: Final = 60
SETTINGS: Final = ("-c listen_addresses='' -c fsync=off -c synchronous_commit=off"
                   " -c full_page_writes=off -c max_connections=300")


def find_bindir() -> Path | None:
    """The newest installed server's binaries (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).parent


class PostgresServer:
    """One server in a temporary directory; its socket is the only way in."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="genweave-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            account = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", SUPERUSER, "--"]
        self._names = itertools.count()

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_user, str(self.bindir / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT,
                                check=False)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}{log}")

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--locale=C")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(START_TIMEOUT), "-o", f"{SETTINGS} -k {self.root}", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stops the server (every connection is cut) and starts it again."""
        self.stop()
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str, user: str = SUPERUSER, password: str = "") -> str:
        credentials = f"{user}:{password}" if password else user
        return f"postgresql://{credentials}@/{database}?host={self.root}"

    def admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement.encode())

    def create_database(self, hint: str) -> str:
        """A new, empty database; returns its name."""
        name = f"t{next(self._names)}_{hint}"[:60]
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; under CI this fails the run (scripts/install-postgres)")
    pytest.skip(f"{reason}: run scripts/install-postgres (as root) to test on PostgreSQL")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's server, started on first use and removed at the end."""
    bindir = find_bindir()
    if bindir is None:
        _missing("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed (pip install -e '.[dev]')")
    assert bindir is not None
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


class Backend:
    """Fresh databases of one backend for a test, and a way in beside the code under test."""

    name = ""

    def location(self, hint: str) -> str:
        """A database for this test (the same one for the same ``hint``)."""
        raise NotImplementedError

    def execute(self, location: str, statement: str) -> list[Any]:
        """One statement from another connection, as another process would; its rows."""
        raise NotImplementedError

    @property
    def error(self) -> type[Exception]:
        """The driver's error for a statement the database refused."""
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def location(self, hint: str) -> str:
        return str(self.directory / f"{hint}.db")

    def execute(self, location: str, statement: str) -> list[Any]:
        with contextlib.closing(sqlite3.connect(location, isolation_level=None)) as db:
            return db.execute(statement).fetchall()

    @property
    def error(self) -> type[Exception]:
        return sqlite3.DatabaseError


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.databases: dict[str, str] = {}

    def location(self, hint: str) -> str:
        if hint not in self.databases:
            self.databases[hint] = self.server.create_database(hint)
        return self.server.url(self.databases[hint])

    def execute(self, location: str, statement: str) -> list[Any]:
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            cursor = conn.execute(statement.encode())
            return cursor.fetchall() if cursor.description else []

    @property
    def error(self) -> type[Exception]:
        import psycopg

        return psycopg.DatabaseError

    def drop(self) -> None:
        for name in self.databases.values():
            self.server.drop_database(name)


BACKENDS: Final = [pytest.param("sqlite"),
                   pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each storage test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield SQLiteBackend(tmp_path)
        return
    postgres = PostgresBackend(request.getfixturevalue("postgres_server"))
    try:
        yield postgres
    finally:
        postgres.drop()
