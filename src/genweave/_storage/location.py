"""Where a database is: a SQLite file, or a PostgreSQL server named by a URL.

A component that keeps state has a ``database_url`` setting; empty means the
``GENWEAVE_DATABASE_URL`` environment variable, and when that is empty too,
the SQLite file under the component's data directory (the embedded default).
The URL may carry a password, so a :class:`Location` never shows it: its
``str`` and ``repr`` are redacted, and :meth:`Location.scrub` takes it out of
any text (a driver's error message) before that text is logged or raised.

>>> location = resolve_location("postgresql://app:s3cret@db/genweave", default="index.db")
>>> str(location)
'postgresql://app:***@db/genweave'
>>> resolve_location("", default="data/index.db", environ={}).path
PosixPath('data/index.db')
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal

from genweave._storage.errors import StorageError

__all__ = [
    "DATABASE_URL_ENV",
    "DATABASE_URL_SETTING",
    "Backend",
    "Location",
    "redact",
    "resolve_location",
]

DATABASE_URL_ENV: Final = "GENWEAVE_DATABASE_URL"
"""The environment variable that names the database when a component's setting is empty."""
DATABASE_URL_SETTING: Final = "database_url"
"""The settings field by which a component says where it keeps state (a convention
that deployment rules can read: empty or a file path means a local SQLite file)."""
HIDDEN: Final = "***"

Backend = Literal["sqlite", "postgresql"]
_POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
_SQLITE_SCHEME: Final = "sqlite"
_SECRET_PARAMETERS: Final = ("password", "sslpassword")


class Location:
    """A database's place, with any secret in it kept out of sight.

    ``target`` is the file path (SQLite) or the full URL (PostgreSQL); only
    the driver ever sees the URL with its password.

    >>> Location.parse("postgresql://app:pw@db/genweave").backend
    'postgresql'
    """

    __slots__ = ("backend", "target")

    def __init__(self, backend: Backend, target: str) -> None:
        self.backend: Backend = backend
        self.target = target

    @classmethod
    def parse(cls, value: str | os.PathLike[str] | Location) -> Location:
        """A URL (``postgresql://...``, ``sqlite:///path``) or a plain file path."""
        if isinstance(value, Location):
            return value
        if not isinstance(value, str):
            return cls("sqlite", os.fspath(value))
        scheme, separator, rest = value.partition("://")
        if not separator:
            return cls("sqlite", value)
        if scheme in _POSTGRES_SCHEMES:
            return cls("postgresql", value)
        if scheme == _SQLITE_SCHEME:
            return cls("sqlite", rest.removeprefix("/"))  # sqlite:///relative, sqlite:////absolute
        raise StorageError(
            f"unsupported database URL {redact(value)!r}: genweave keeps state in SQLite "
            "(a file path or sqlite:///path) or PostgreSQL (postgresql://user@host/database)"
        )

    @property
    def path(self) -> Path:
        """The SQLite file; a PostgreSQL location has none."""
        if self.backend != "sqlite":
            raise StorageError(f"{self}: a PostgreSQL database is not a file")
        return Path(self.target)

    @property
    def shared(self) -> bool:
        """Whether processes on other hosts can share it (a server, not a local file)."""
        return self.backend == "postgresql"

    def companion(self, suffix: str) -> Location:
        """Where a companion database lives: a file beside this one (SQLite, e.g.
        ``index.db.jobs``), or this same database (PostgreSQL: its tables sit side by side)."""
        if self.backend == "sqlite":
            return Location("sqlite", self.target + suffix)
        return self

    def scrub(self, text: str) -> str:
        """``text`` with this location's password replaced, for errors and logs."""
        for secret in _secrets(self.target):
            text = text.replace(secret, HIDDEN)
        return text.replace(self.target, str(self))

    def __str__(self) -> str:
        return redact(self.target) if self.backend == "postgresql" else self.target

    def __repr__(self) -> str:
        return f"Location({self.backend!r}, {str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and (other.backend, other.target) == (
            self.backend, self.target)

    def __hash__(self) -> int:
        return hash((self.backend, self.target))


def resolve_location(
    database_url: str, *, default: str | os.PathLike[str],
    environ: Mapping[str, str] = os.environ,
) -> Location:
    """The setting if it is set, else ``GENWEAVE_DATABASE_URL``, else the file ``default``."""
    return Location.parse(database_url or environ.get(DATABASE_URL_ENV, "") or default)


def redact(url: str) -> str:
    """``url`` with its password (in the user part or a query parameter) replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    hidden = [(key, HIDDEN if key in _SECRET_PARAMETERS else value) for key, value in query]
    query_text = urllib.parse.urlencode(hidden, safe="/*")
    # Built by hand: urlunsplit drops the empty host of postgresql:///db?host=/socket.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query_text}" if query_text else "")


def _secrets(url: str) -> list[str]:
    """Every form in which the URL's passwords could appear in a message."""
    parts = urllib.parse.urlsplit(url)
    raw = [] if parts.password is None else [parts.password]
    raw += [value for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if key in _SECRET_PARAMETERS]
    forms = {form for secret in raw for form in (
        secret, urllib.parse.unquote(secret), urllib.parse.quote(secret, safe=""))}
    return sorted((form for form in forms if form), key=len, reverse=True)
