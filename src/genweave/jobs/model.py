"""What the job queue hands out: jobs, their states and progress, and its errors."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, TypeVar

import msgspec

from genweave.errors import GenweaveError

__all__ = [
    "FINISHED",
    "Job",
    "JobError",
    "JobFailed",
    "JobNotFound",
    "JobState",
    "LeaseLost",
    "Progress",
    "job_from_row",
]

T = TypeVar("T")


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


def job_from_row(row: tuple[Any, ...]) -> Job:
    """A job from a row of the queue's columns, in the queue's order."""
    (id, kind, key, state, payload, result, error, done, total, message,
     attempts, max_attempts, lease, expires, created, updated) = row
    return Job(id, kind, key, JobState(state), bytes(payload),
               None if result is None else bytes(result), error,
               Progress(done, total, message), attempts, max_attempts, lease, expires,
               created, updated)
