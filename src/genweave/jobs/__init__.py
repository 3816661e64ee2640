"""A durable job queue, for work that must survive a crash (ingestion, batch runs).

A job moves ``queued -> running -> done | failed``.  A worker *claims* a job and
gets a lease: a token and an expiry time.  It reports progress (which renews
the lease) and finally completes the job with its result, in one transaction:
a job is acknowledged only once its result is stored.  A worker that dies
leaves its job ``running`` with a lease that runs out; the next ``claim`` takes
it again (the attempt count goes up), so work is resumed, never lost.  A job
that has lost ``max_attempts`` workers is failed rather than retried forever.
Work inside a job should therefore be idempotent or checkpointed: the ingestor
stores chunks as it goes and, when resumed, skips those already stored.

The queue lives in a SQLite file (the default: WAL mode, so readers never
block the writer and the processes of one host share it; a committed job
survives the process being killed) or in PostgreSQL, named by a
``postgresql://`` URL, so that workers on any number of hosts share it: a
claim there takes the oldest job no other worker is claiming
(``FOR UPDATE SKIP LOCKED``), so workers never queue behind each other.

Blocking: every method is one short transaction (well under a millisecond on a
local disk or a nearby server), so async code calls them directly; only
:meth:`JobQueue.wait` awaits.  A queue may be shared with worker threads.

``model.py`` holds the job and its errors, ``schema.py`` the versioned tables,
``queue.py`` the queue.

>>> queue = JobQueue("jobs.db")
>>> job = queue.enqueue("ingest", {"document": "guide"}, key="ingest:guide:v1")
>>> claimed = queue.claim("ingest")
>>> queue.progress(claimed, 1, 2, "half way")
>>> queue.complete(claimed, {"chunks": 12}).state
<JobState.DONE: 'done'>
"""

from genweave.jobs.model import (
    FINISHED,
    Job,
    JobError,
    JobFailed,
    JobNotFound,
    JobState,
    LeaseLost,
    Progress,
)
from genweave.jobs.queue import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, JobQueue

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MAX_ATTEMPTS",
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
