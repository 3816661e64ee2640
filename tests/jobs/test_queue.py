"""The durable job queue: leases, acknowledgement, idempotency, and surviving a SIGKILL.

Every test runs on SQLite and on PostgreSQL (the ``backend`` fixture).  Leases
run out on a clock the tests move forward (``JumpClock``), never by waiting.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from genweave.jobs import Job, JobFailed, JobNotFound, JobQueue, JobState, LeaseLost, Progress
from postgres_server import Backend

SHORT_LEASE = 0.3
WORKER_LEASE = 1.0
"""Long enough that a loaded machine does not let it run out before the test checks it."""
PAST_A_LEASE = 0.05


class Report(msgspec.Struct):
    day: str
    rows: int = 0


class JumpClock:
    """Wall-clock time that a test can move forward: real time plus the jumps so far.

    It follows real time, so leases taken by another process (on the real clock)
    compare right against it.
    """

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead

    def jump(self, seconds: float) -> None:
        self.ahead += seconds


@pytest.fixture
def clock() -> JumpClock:
    return JumpClock()


@pytest.fixture
def queue(backend: Backend, clock: JumpClock) -> Iterator[JobQueue]:
    with JobQueue(backend.location("jobs"), clock=clock) as queue:
        yield queue


def _claim(queue: JobQueue, *kinds: str, **options: Any) -> Job:
    job = queue.claim(*kinds, **options)
    assert job is not None, "expected a claimable job"
    return job


def test_a_job_goes_from_queued_to_done_with_its_result(queue: JobQueue) -> None:
    job = queue.enqueue("report", Report("monday"))
    assert (job.state, job.attempts, job.result) == (JobState.QUEUED, 0, None)
    claimed = _claim(queue, "report")
    assert claimed.id == job.id
    assert claimed.state is JobState.RUNNING and claimed.attempts == 1
    assert claimed.decode_payload(Report) == Report("monday")
    queue.progress(claimed, 1, 4, "first quarter")
    assert queue.get(job.id).progress == Progress(1, 4, "first quarter")
    done = queue.complete(claimed, Report("monday", rows=12))
    assert done.state is JobState.DONE and done.lease is None
    assert queue.get(job.id).decode_result(Report).rows == 12
    assert queue.claim("report") is None


REFUSE_RESULTS = {
    "sqlite": """CREATE TRIGGER refuse_results BEFORE UPDATE OF result ON jobs
        WHEN NEW.result IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk full'); END""",
    "postgresql": """CREATE FUNCTION refuse_results() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.result IS NOT NULL THEN RAISE EXCEPTION 'disk full'; END IF;
        RETURN NEW; END $$;
        CREATE TRIGGER refuse_results BEFORE UPDATE OF result ON jobs
        FOR EACH ROW EXECUTE FUNCTION refuse_results()""",
}
ALLOW_RESULTS = {"sqlite": "DROP TRIGGER refuse_results",
                 "postgresql": "DROP TRIGGER refuse_results ON jobs"}


def test_a_job_is_acknowledged_only_once_its_result_is_stored(
        queue: JobQueue, backend: Backend) -> None:
    job = queue.enqueue("report", Report("monday"))
    claimed = _claim(queue, "report")
    # Storing the result fails (as another process sees to): the acknowledgement must too.
    backend.execute(backend.location("jobs"), REFUSE_RESULTS[backend.name])
    with pytest.raises(backend.error, match="disk full"):
        queue.complete(claimed, Report("monday", rows=12))
    still = queue.get(job.id)
    assert (still.state, still.result, still.lease) == (JobState.RUNNING, None, claimed.lease)
    backend.execute(backend.location("jobs"), ALLOW_RESULTS[backend.name])
    assert queue.complete(claimed, Report("monday", rows=12)).state is JobState.DONE
    assert queue.get(job.id).decode_result(Report).rows == 12


def test_an_idempotency_key_returns_the_existing_job(queue: JobQueue) -> None:
    first = queue.enqueue("report", Report("monday"), key="report:monday")
    again = queue.enqueue("report", Report("other payload"), key="report:monday")
    assert again.id == first.id and again.decode_payload(Report).day == "monday"
    queue.complete(_claim(queue), None)
    assert queue.enqueue("report", Report("monday"), key="report:monday").state is JobState.DONE
    assert queue.find("report:monday") == queue.get(first.id)
    assert queue.find("nothing") is None


def test_claims_take_the_oldest_job_of_the_kinds_asked(queue: JobQueue) -> None:
    a = queue.enqueue("a", 1)
    b = queue.enqueue("b", 2)
    c = queue.enqueue("a", 3)
    assert _claim(queue, "b").id == b.id
    assert _claim(queue, "a", job_id=c.id).id == c.id
    assert _claim(queue, "a", "b").id == a.id
    assert queue.claim() is None


def test_a_running_job_is_not_claimed_until_its_lease_runs_out(
        queue: JobQueue, clock: JumpClock) -> None:
    job = queue.enqueue("work", None)
    first = _claim(queue, "work", lease=SHORT_LEASE)
    assert queue.claim("work") is None
    clock.jump(SHORT_LEASE / 2)
    assert queue.claim("work") is None
    clock.jump(SHORT_LEASE / 2 + PAST_A_LEASE)
    second = _claim(queue, "work", lease=SHORT_LEASE)
    assert second.id == job.id and second.attempts == 2
    with pytest.raises(LeaseLost, match="lease is gone"):
        queue.progress(first, 1, 2)
    with pytest.raises(LeaseLost):
        queue.complete(first, "late")
    queue.complete(second, "on time")
    assert queue.get(job.id).decode_result(str) == "on time"


def test_progress_renews_the_lease(queue: JobQueue, clock: JumpClock) -> None:
    queue.enqueue("work", None)
    claimed = _claim(queue, "work", lease=WORKER_LEASE)
    for step in range(3):  # three lease-lengths in all, each step within the renewed lease
        clock.jump(WORKER_LEASE * 0.9)
        queue.progress(claimed, step, 3)
    assert queue.claim("work") is None
    clock.jump(WORKER_LEASE + PAST_A_LEASE)  # no more progress: the lease runs out
    assert _claim(queue, "work").attempts == 2


def test_a_job_whose_workers_keep_dying_is_failed(queue: JobQueue, clock: JumpClock) -> None:
    job = queue.enqueue("work", None, max_attempts=2)
    for _ in range(2):
        _claim(queue, "work", lease=SHORT_LEASE)
        clock.jump(SHORT_LEASE + PAST_A_LEASE)
    assert queue.claim("work") is None
    failed = queue.get(job.id)
    assert failed.state is JobState.FAILED
    assert "attempt 2 of 2 stopped renewing its lease" in failed.error
    assert queue.retry(job.id).state is JobState.QUEUED
    assert _claim(queue, "work").attempts == 1


def test_fail_retry_and_release(queue: JobQueue) -> None:
    job = queue.enqueue("work", None, max_attempts=2)
    assert queue.fail(_claim(queue, "work"), "flaky", retry=True).state is JobState.QUEUED
    assert queue.fail(_claim(queue, "work"), "flaky", retry=True).state is JobState.FAILED
    assert queue.get(job.id).error == "flaky"
    queue.retry(job.id)
    released = queue.release(_claim(queue, "work"))
    assert (released.state, released.attempts) == (JobState.QUEUED, 0)
    assert queue.retry(job.id).state is JobState.QUEUED  # not finished: unchanged


async def test_wait_returns_the_finished_job_or_raises(queue: JobQueue) -> None:
    ok, bad = queue.enqueue("work", 1), queue.enqueue("work", 2)
    waiting_ok = asyncio.create_task(queue.wait(ok.id, timeout=5))
    waiting_bad = asyncio.create_task(queue.wait(bad.id, timeout=5))
    await asyncio.sleep(0)  # one loop pass: both waiters have looked and found them queued
    assert not waiting_ok.done() and not waiting_bad.done()
    queue.complete(_claim(queue, "work", job_id=ok.id), "fine")
    queue.fail(_claim(queue, "work", job_id=bad.id), "broken input")
    assert (await waiting_ok).decode_result(str) == "fine"
    with pytest.raises(JobFailed, match="failed: broken input"):
        await waiting_bad
    with pytest.raises(TimeoutError):
        await queue.wait(queue.enqueue("work", 3).id, timeout=0.05)


def test_listing_counting_and_forgetting(queue: JobQueue) -> None:
    jobs = [queue.enqueue("a" if i % 2 else "b", i) for i in range(5)]
    queue.complete(_claim(queue, "a"), None)
    counts = queue.counts()
    assert counts[JobState.QUEUED] == 4 and counts[JobState.DONE] == 1
    assert [j.id for j in queue.jobs(kind="b")] == [jobs[4].id, jobs[2].id, jobs[0].id]
    assert len(queue.jobs(state=JobState.DONE)) == 1
    assert queue.forget(older_than=-1) == 1
    with pytest.raises(JobNotFound, match="no job"):
        queue.get(jobs[1].id)


def test_each_job_is_claimed_once_by_competing_threads(queue: JobQueue) -> None:
    ids = {queue.enqueue("work", i).id for i in range(60)}
    claimed: list[str] = []

    def worker() -> None:
        while (job := queue.claim("work")) is not None:
            claimed.append(job.id)
            queue.complete(job)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)


CRASHING_WORKER = textwrap.dedent("""
    import sys, time
    from genweave.jobs import JobQueue
    queue = JobQueue(sys.argv[1])
    job = queue.claim("work", lease=float(sys.argv[2]))
    queue.progress(job, 1, 3, "one step done")
    print("working", flush=True)
    time.sleep(60)
""")


@pytest.mark.process
def test_a_job_survives_its_worker_being_killed(queue: JobQueue, clock: JumpClock) -> None:
    job = queue.enqueue("work", Report("tuesday"), key="tuesday")
    worker = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WORKER, queue.location.target, str(WORKER_LEASE)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "working\n"
        assert queue.claim("work") is None  # the live worker holds it
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        worker.kill()
        if worker.stdout is not None:
            worker.stdout.close()
    crashed = queue.get(job.id)
    assert crashed.state is JobState.RUNNING and crashed.progress.done == 1
    assert queue.claim("work") is None  # dead, but its lease has not run out yet
    clock.jump(WORKER_LEASE + PAST_A_LEASE)
    resumed = queue.claim("work")
    assert resumed is not None and resumed.id == job.id
    assert resumed.attempts == 2 and resumed.progress == Progress(1, 3, "one step done")
    queue.complete(resumed, Report("tuesday", rows=3))
    assert queue.get(job.id).decode_result(Report).rows == 3
