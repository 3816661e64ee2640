"""A durable job queue on SQLite, for work that must survive a crash (ingestion, batch runs).

A job moves ``queued -> running -> done | failed``.  A worker *claims* a job and
gets a lease: a token and an expiry time.  It reports progress (which renews
the lease) and finally completes the job with its result, in one transaction:
a job is acknowledged only once its result is stored.  A worker that dies
leaves its job ``running`` with a lease that runs out; the next ``claim`` takes
it again (the attempt count goes up), so work is resumed, never lost.  A job
that has lost ``max_attempts`` workers is failed rather than retried forever.
Work inside a job should therefore be idempotent or checkpointed: the ingestor
stores chunks as it goes and, when resumed, skips those already stored.

The database runs in WAL mode, so readers never block the writer and several
processes can share one queue file.  ``synchronous=NORMAL``: a committed job
survives the process being killed; only an OS crash or power cut can lose the
last commits.

Blocking: every method is one short transaction (well under a millisecond on a
local disk), so async code calls them directly; only :meth:`JobQueue.wait`
awaits.  Each thread gets its own connection, so a queue may also be shared
with worker threads.

>>> queue = JobQueue("jobs.db")
>>> job = queue.enqueue("ingest", {"document": "guide"}, key="ingest:guide:v1")
>>> claimed = queue.claim("ingest")
>>> queue.progress(claimed, 1, 2, "half way")
>>> queue.complete(claimed, {"chunks": 12}).state
<JobState.DONE: 'done'>
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec

from genweave._sqlite import SQLiteFile
from genweave.errors import GenweaveError

__all__ = [
    "FINISHED",
    "Job",
    "JobError",
    "JobFailed",
    "JobNotFound",
    "JobQueue",
    "JobState",
    "LeaseLost",
    "Progress",
]

T = TypeVar("T")

DEFAULT_LEASE: Final = 60.0
"""Seconds a claim lasts without progress; report progress more often than this."""
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_POLL: Final = 0.05

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
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
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, kind, created);
"""
_COLUMNS: Final = (
    "id, kind, key, state, payload, result, error, done, total, message, "
    "attempts, max_attempts, lease, lease_expires, created, updated"
)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


FINISHED: Final = (JobState.DONE, JobState.FAILED)
"""The states a job does not leave by itself."""


class JobError(GenweaveError):
    """Base class of the job queue's errors."""


class JobNotFound(JobError, LookupError):
    """No job has this id (it never existed, or was forgotten)."""


class LeaseLost(JobError):
    """The worker's claim is no longer valid: the lease ran out and another worker
    took the job, or the job was finished or released.  Stop working on it."""


class JobFailed(JobError):
    """A job that was awaited ended ``failed``; the message is the job's error."""


class Progress(msgspec.Struct, frozen=True):
    done: int = 0
    total: int = 0
    message: str = ""


class Job(msgspec.Struct, frozen=True):
    """A snapshot of a job.  ``payload`` and ``result`` are msgpack; decode with the methods."""

    id: str
    kind: str
    key: str | None
    state: JobState
    payload: bytes
    result: bytes | None
    error: str
    progress: Progress
    attempts: int
    max_attempts: int
    lease: str | None
    lease_expires: float | None
    created: float
    updated: float

    def decode_payload(self, type: type[T]) -> T:
        return msgspec.msgpack.decode(self.payload, type=type)

    def decode_result(self, type: type[T]) -> T:
        if self.result is None:
            raise JobError(f"job {self.id} ({self.kind}) has no result; its state is {self.state}")
        return msgspec.msgpack.decode(self.result, type=type)


def _job(row: tuple[Any, ...]) -> Job:
    (id, kind, key, state, payload, result, error, done, total, message,
     attempts, max_attempts, lease, expires, created, updated) = row
    return Job(id, kind, key, JobState(state), payload, result, error,
               Progress(done, total, message), attempts, max_attempts, lease, expires,
               created, updated)


class JobQueue:
    """The durable queue: enqueue, claim, report progress, complete or fail.

    >>> queue = JobQueue(tmp_path / "jobs.db")
    >>> queue.enqueue("report", {"day": "2024-05-01"}).state
    <JobState.QUEUED: 'queued'>

    ``clock`` gives the wall-clock time (``time.time`` by default) that leases
    and timestamps are measured by; every process sharing a file must agree on it.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        # Wall-clock seconds, not monotonic: leases are compared across processes.
        self._clock = clock
        self._sql = SQLiteFile(self.path)
        self._db().executescript(_SCHEMA)  # idempotent; a script commits on its own

    def _db(self) -> sqlite3.Connection:
        return self._sql.connection()

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._sql.transaction()

    def enqueue(
        self,
        kind: str,
        payload: Any,
        *,
        key: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> Job:
        """Adds a job; with a ``key`` already used, returns that job instead, in any state."""
        now, data = self._clock(), msgspec.msgpack.encode(payload)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, key, state, payload, max_attempts, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (uuid.uuid4().hex, kind, key, JobState.QUEUED, data, max_attempts, now, now),
            )
            if key is None:
                row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE rowid = last_insert_rowid()")
            else:
                row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE key = ?", (key,))
            return _job(row.fetchone())

    def get(self, job_id: str) -> Job:
        row = self._db().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"{self.path}: no job {job_id!r}; it never existed or was forgotten")
        return _job(row)

    def find(self, key: str) -> Job | None:
        """The job enqueued with this idempotency key, if any."""
        row = self._db().execute(f"SELECT {_COLUMNS} FROM jobs WHERE key = ?", (key,)).fetchone()
        return None if row is None else _job(row)

    def claim(
        self, *kinds: str, job_id: str | None = None, lease: float = DEFAULT_LEASE
    ) -> Job | None:
        """Takes the oldest claimable job of these kinds (any kind if none), or ``job_id``.

        Claimable: queued, or running with a lease that ran out (its worker died).
        Returns ``None`` when there is none.
        """
        now = self._clock()
        where, params = ["(state = ? OR (state = ? AND lease_expires < ?))"], [
            JobState.QUEUED, JobState.RUNNING, now]
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if job_id is not None:
            where.append("id = ?")
            params.append(job_id)
        with self._transaction() as db:
            self._fail_abandoned(db, now)
            row = db.execute(
                "UPDATE jobs SET state = ?, lease = ?, lease_expires = ?, lease_seconds = ?,"
                " updated = ?, attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE"
                f" {' AND '.join(where)} ORDER BY created, rowid LIMIT 1) RETURNING {_COLUMNS}",
                [JobState.RUNNING, uuid.uuid4().hex, now + lease, lease, now, *params],
            ).fetchone()
        return None if row is None else _job(row)

    def _fail_abandoned(self, db: sqlite3.Connection, now: float) -> None:
        db.execute(
            "UPDATE jobs SET state = ?, lease = NULL, lease_expires = NULL, updated = ?,"
            " error = 'abandoned: the worker of attempt ' || attempts || ' of ' || max_attempts"
            " || ' stopped renewing its lease (did it crash?)'"
            " WHERE state = ? AND lease_expires < ? AND attempts >= max_attempts",
            (JobState.FAILED, now, JobState.RUNNING, now),
        )

    def progress(self, job: Job, done: int, total: int, message: str = "") -> None:
        """Records progress and renews the lease for as long as the claim asked.

        Raises :class:`LeaseLost` if the lease is gone: the worker should stop.
        """
        self._update_claimed(
            job, "done = ?, total = ?, message = ?, lease_expires = ? + lease_seconds",
            [done, total, message, self._clock()],
        )

    def complete(self, job: Job, result: Any = None) -> Job:
        """Stores the result and marks the job done, atomically: the acknowledgement."""
        return self._update_claimed(
            job, "state = ?, result = ?, lease = NULL, lease_expires = NULL, error = ''",
            [JobState.DONE, msgspec.msgpack.encode(result)],
        )

    def fail(self, job: Job, error: str, *, retry: bool = False) -> Job:
        """Marks the job failed, or queues it again if ``retry`` and attempts remain."""
        state = JobState.QUEUED if retry and job.attempts < job.max_attempts else JobState.FAILED
        return self._update_claimed(
            job, "state = ?, error = ?, lease = NULL, lease_expires = NULL", [state, error]
        )

    def release(self, job: Job) -> Job:
        """Gives a claimed job back unfinished (e.g. on shutdown); the attempt is not counted."""
        return self._update_claimed(
            job, "state = ?, lease = NULL, lease_expires = NULL, attempts = attempts - 1",
            [JobState.QUEUED],
        )

    def _update_claimed(self, job: Job, assignments: str, values: list[Any]) -> Job:
        with self._transaction() as db:
            row = db.execute(
                f"UPDATE jobs SET {assignments}, updated = ? WHERE id = ? AND state = ?"
                f" AND lease = ? RETURNING {_COLUMNS}",
                [*values, self._clock(), job.id, JobState.RUNNING, job.lease],
            ).fetchone()
        if row is None:
            raise LeaseLost(
                f"job {job.id} ({job.kind}): this worker's lease is gone (it expired and "
                "another worker claimed the job, or the job was finished); stop working on it"
            )
        return _job(row)

    def retry(self, job_id: str) -> Job:
        """Queues a finished (failed or done) job again, with a fresh attempt count.

        A job that is queued or running is returned unchanged.
        """
        with self._transaction() as db:
            row = db.execute(
                "UPDATE jobs SET state = ?, attempts = 0, error = '', result = NULL,"
                " done = 0, total = 0, message = '', updated = ? WHERE id = ?"
                f" AND state IN (?, ?) RETURNING {_COLUMNS}",
                (JobState.QUEUED, self._clock(), job_id, *FINISHED),
            ).fetchone()
        return self.get(job_id) if row is None else _job(row)

    async def wait(
        self, job_id: str, *, timeout: float | None = None, poll: float = DEFAULT_POLL
    ) -> Job:
        """Waits until the job is done and returns it; raises :class:`JobFailed` if it failed."""
        async with asyncio.timeout(timeout):
            while (job := self.get(job_id)).state not in FINISHED:
                await asyncio.sleep(poll)
        if job.state is JobState.FAILED:
            raise JobFailed(f"job {job.id} ({job.kind}) failed: {job.error}")
        return job

    def jobs(self, *, state: JobState | None = None, kind: str | None = None,
             limit: int = 100) -> list[Job]:
        """The most recent jobs, newest first, optionally of one state and kind."""
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE (?1 IS NULL OR state = ?1) AND"
            " (?2 IS NULL OR kind = ?2) ORDER BY created DESC, rowid DESC LIMIT ?3",
            (state, kind, limit),
        )
        return [_job(row) for row in rows]

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        counts = dict.fromkeys(JobState, 0)
        for state, count in self._db().execute("SELECT state, count(*) FROM jobs GROUP BY state"):
            counts[JobState(state)] = count
        return counts

    def forget(self, *, older_than: float) -> int:
        """Deletes finished jobs last updated more than ``older_than`` seconds ago."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM jobs WHERE state IN (?, ?) AND updated < ?",
                (*FINISHED, self._clock() - older_than),
            )
        return cursor.rowcount

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes every thread's connection; the queue must not be used afterwards."""
        self._sql.close()
