"""The queue itself: one class, the same SQL on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

import msgspec

from genweave._storage import Location, Session, migrate, open_database
from genweave.jobs.model import FINISHED, Job, JobFailed, JobNotFound, JobState, LeaseLost
from genweave.jobs.model import job_from_row as _job
from genweave.jobs.schema import JOB_COLUMNS as _COLUMNS
from genweave.jobs.schema import JOBS_SCHEMA

__all__ = ["DEFAULT_LEASE", "DEFAULT_MAX_ATTEMPTS", "DEFAULT_POLL", "JobQueue"]

DEFAULT_LEASE: Final = 60.0
"""Seconds a claim lasts without progress; report progress more often than this."""
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_POLL: Final = 0.05


class JobQueue:
    """The durable queue: enqueue, claim, report progress, complete or fail.

    ``location`` is a SQLite file path or a ``postgresql://`` URL.

    >>> queue = JobQueue(tmp_path / "jobs.db")
    >>> queue.enqueue("report", {"day": "2024-05-01"}).state
    <JobState.QUEUED: 'queued'>

    ``clock`` gives the wall-clock time (``time.time`` by default) that leases
    and timestamps are measured by; every process sharing a queue must agree on it.
    """

    def __init__(self, location: str | os.PathLike[str] | Location, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.location = Location.parse(location)
        # Wall-clock seconds, not monotonic: leases are compared across processes.
        self._clock = clock
        self._database = open_database(self.location)
        self._skip_locked = self._database.dialect.skip_locked
        try:
            migrate(self._database, JOBS_SCHEMA)
        except BaseException:
            self._database.close()
            raise

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
        with self._database.transaction() as db:
            row = db.execute(
                "INSERT INTO jobs (id, kind, key, state, payload, max_attempts, created, updated)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING"
                f" RETURNING {_COLUMNS}",
                (uuid.uuid4().hex, kind, key, JobState.QUEUED, data, max_attempts, now, now),
            ).fetchone()
            if row is None:  # the key was taken
                row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE key = %s", (key,)).fetchone()
            return _job(row)

    def get(self, job_id: str) -> Job:
        with self._database.read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"{self.location}: no job {job_id!r}; it never existed or was "
                              "forgotten")
        return _job(row)

    def find(self, key: str) -> Job | None:
        """The job enqueued with this idempotency key, if any."""
        with self._database.read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE key = %s", (key,)).fetchone()
        return None if row is None else _job(row)

    def claim(
        self, *kinds: str, job_id: str | None = None, lease: float = DEFAULT_LEASE
    ) -> Job | None:
        """Takes the oldest claimable job of these kinds (any kind if none), or ``job_id``.

        Claimable: queued, or running with a lease that ran out (its worker died).
        Returns ``None`` when there is none.  Workers never wait for each other:
        in PostgreSQL a job another worker is claiming is skipped (``SKIP LOCKED``);
        in SQLite the claim's transaction holds the file's write lock.
        """
        now = self._clock()
        where, params = ["(state = %s OR (state = %s AND lease_expires < %s))"], [
            JobState.QUEUED, JobState.RUNNING, now]
        if kinds:
            where.append(f"kind IN ({', '.join(['%s'] * len(kinds))})")
            params.extend(kinds)
        if job_id is not None:
            where.append("id = %s")
            params.append(job_id)
        with self._database.transaction() as db:
            self._fail_abandoned(db, now)
            row = db.execute(
                "UPDATE jobs SET state = %s, lease = %s, lease_expires = %s, lease_seconds = %s,"
                " updated = %s, attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE"
                f" {' AND '.join(where)} ORDER BY created, rowid LIMIT 1{self._skip_locked})"
                f" RETURNING {_COLUMNS}",
                [JobState.RUNNING, uuid.uuid4().hex, now + lease, lease, now, *params],
            ).fetchone()
        return None if row is None else _job(row)

    def _fail_abandoned(self, db: Session, now: float) -> None:
        db.execute(
            "UPDATE jobs SET state = %s, lease = NULL, lease_expires = NULL, updated = %s,"
            " error = 'abandoned: the worker of attempt ' || attempts || ' of ' || max_attempts"
            " || ' stopped renewing its lease (did it crash?)'"
            " WHERE id IN (SELECT id FROM jobs WHERE state = %s AND lease_expires < %s"
            f" AND attempts >= max_attempts{self._skip_locked})",
            (JobState.FAILED, now, JobState.RUNNING, now),
        )

    def progress(self, job: Job, done: int, total: int, message: str = "") -> None:
        """Records progress and renews the lease for as long as the claim asked.

        Raises :class:`LeaseLost` if the lease is gone: the worker should stop.
        """
        self._update_claimed(
            job, "done = %s, total = %s, message = %s, lease_expires = %s + lease_seconds",
            [done, total, message, self._clock()],
        )

    def complete(self, job: Job, result: Any = None) -> Job:
        """Stores the result and marks the job done, atomically: the acknowledgement."""
        return self._update_claimed(
            job, "state = %s, result = %s, lease = NULL, lease_expires = NULL, error = ''",
            [JobState.DONE, msgspec.msgpack.encode(result)],
        )

    def fail(self, job: Job, error: str, *, retry: bool = False) -> Job:
        """Marks the job failed, or queues it again if ``retry`` and attempts remain."""
        state = JobState.QUEUED if retry and job.attempts < job.max_attempts else JobState.FAILED
        return self._update_claimed(
            job, "state = %s, error = %s, lease = NULL, lease_expires = NULL", [state, error]
        )

    def release(self, job: Job) -> Job:
        """Gives a claimed job back unfinished (e.g. on shutdown); the attempt is not counted."""
        return self._update_claimed(
            job, "state = %s, lease = NULL, lease_expires = NULL, attempts = attempts - 1",
            [JobState.QUEUED],
        )

    def _update_claimed(self, job: Job, assignments: str, values: list[Any]) -> Job:
        with self._database.transaction() as db:
            row = db.execute(
                f"UPDATE jobs SET {assignments}, updated = %s WHERE id = %s AND state = %s"
                f" AND lease = %s RETURNING {_COLUMNS}",
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
        with self._database.transaction() as db:
            row = db.execute(
                "UPDATE jobs SET state = %s, attempts = 0, error = '', result = NULL,"
                " done = 0, total = 0, message = '', updated = %s WHERE id = %s"
                f" AND state IN (%s, %s) RETURNING {_COLUMNS}",
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
        with self._database.read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE (CAST(%s AS TEXT) IS NULL OR state = %s) AND"
                " (CAST(%s AS TEXT) IS NULL OR kind = %s)"
                " ORDER BY created DESC, rowid DESC LIMIT %s",
                (state, state, kind, kind, limit),
            ).fetchall()
        return [_job(row) for row in rows]

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        counts = dict.fromkeys(JobState, 0)
        with self._database.read() as db:
            for state, count in db.execute("SELECT state, count(*) FROM jobs GROUP BY state"):
                counts[JobState(state)] = count
        return counts

    def forget(self, *, older_than: float) -> int:
        """Deletes finished jobs last updated more than ``older_than`` seconds ago."""
        with self._database.transaction() as db:
            return db.execute(
                "DELETE FROM jobs WHERE state IN (%s, %s) AND updated < %s",
                (*FINISHED, self._clock() - older_than),
            ).rowcount

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes every connection; the queue must not be used afterwards."""
        self._database.close()
