"""Continuous batching: many requests share every forward pass of one model.

A decode step costs about the same for one sequence as for dozens (it is
bound by reading the weights and the KV cache), so a server that advances all
live requests together serves many times more tokens per second. The engine
runs one loop per backend; between two steps, finished and abandoned
requests leave the batch and waiting ones join it, so nobody waits for the
longest request of a batch to end.

The model work of each step runs in a dedicated worker thread, so the event
loop keeps serving while numpy or torch compute; everything else (queues,
decoding to text, stop strings, cancellation) happens on the event loop,
which needs no locks. The model side is a :class:`Runner`: one for TinyLM,
one for Hugging Face models.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Protocol

import msgspec

from .base import FinishReason, GenerationParams, TextDelta, TokenUsage
from .errors import BackendClosed, BackendOverloaded, GenerationError
from .stops import StopMatcher

__all__ = ["Detokenizer", "Engine", "EngineRequest", "EngineStats", "Runner"]

DEFAULT_MAX_BATCH_SIZE: Final = 32
DEFAULT_MAX_WAITING: Final = 256


class Detokenizer(Protocol):
    """Turns one request's token ids into text, one id at a time."""

    def push(self, token_id: int) -> str: ...

    def flush(self) -> str: ...


class EngineRequest:
    """One request inside the engine: what to generate and where its text goes."""

    def __init__(
        self,
        prompt_ids: list[int],
        params: GenerationParams,
        *,
        limit: int,
        prompt_tokens: int,
        detokenizer: Detokenizer,
    ) -> None:
        self.prompt_ids = prompt_ids
        self.params = params
        self.limit = limit
        self.prompt_tokens = prompt_tokens
        self.detokenizer = detokenizer
        self.stops = StopMatcher(params.stop)
        self.queue: asyncio.Queue[TextDelta | BaseException] = asyncio.Queue()
        self.generated = 0
        self.done = False
        self.cancelled = False


class Runner(abc.ABC):
    """The model side of an :class:`Engine`.

    The engine calls these methods from its worker thread, one at a time, in
    the order ``release`` (jobs that left), ``admit`` (jobs that join: prefill
    their prompts), ``step`` (one token for every admitted job).

    ``TinyLMRunner`` (``builtin_impl.py``) is a complete one in 30 lines:

    >>> engine = Engine(TinyLMRunner(TinyLM.load()), max_batch_size=8)  # doctest: +SKIP
    """

    eos_ids: frozenset[int] = frozenset()

    @property
    def can_join(self) -> bool:
        """Whether new jobs may join a batch that is already running. A runner
        whose cache cannot be merged says no, and the engine then admits a new
        batch only once the current one has drained."""
        return True

    @abc.abstractmethod
    def admit(self, jobs: list[EngineRequest]) -> None:
        """Prefill the prompts of ``jobs``; the next ``step`` includes them."""

    @abc.abstractmethod
    def step(self, jobs: list[EngineRequest]) -> list[int]:
        """Advance every admitted job by one token; return the tokens in ``jobs`` order."""

    @abc.abstractmethod
    def release(self, jobs: list[EngineRequest]) -> None:
        """Forget ``jobs`` and free their cache."""

    @abc.abstractmethod
    def detokenizer(self, prompt_ids: list[int]) -> Detokenizer:
        """A fresh incremental decoder for a job with this prompt (some
        tokenizers need the last prompt tokens to decode the first new one)."""


class EngineStats(msgspec.Struct, frozen=True):
    """Counters since the engine was created, and the current batch."""

    steps: int
    tokens: int
    admitted: int
    finished: int
    cancelled: int
    running: int
    waiting: int


class Engine:
    """Serves generation requests from one :class:`Runner` by continuous batching.

    ``max_batch_size`` bounds the jobs per step (1 serves requests one at a
    time, unbatched); ``max_waiting`` bounds the jobs queued for a slot, beyond
    which requests fail at once with :class:`BackendOverloaded`.

    >>> engine = Engine(runner, max_batch_size=32)  # doctest: +SKIP
    >>> async for delta in engine.generate(ids, GenerationParams(), limit=100):  # doctest: +SKIP
    ...     print(delta.text, end="")
    """

    def __init__(
        self,
        runner: Runner,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_waiting: int = DEFAULT_MAX_WAITING,
        name: str = "engine",
    ) -> None:
        if max_batch_size < 1 or max_waiting < 0:
            raise ValueError(
                f"{name}: max_batch_size must be at least 1 and max_waiting at least 0, "
                f"got {max_batch_size} and {max_waiting}"
            )
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_waiting = max_waiting
        self._runner = runner
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"genweave-{name}")
        self._waiting: collections.deque[EngineRequest] = collections.deque()
        self._running: list[EngineRequest] = []
        self._leaving: list[EngineRequest] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._counts = collections.Counter[str]()

    @property
    def stats(self) -> EngineStats:
        c = self._counts
        return EngineStats(c["steps"], c["tokens"], c["admitted"], c["finished"], c["cancelled"],
                           len(self._running), len(self._waiting))

    @property
    def busy(self) -> bool:
        """Whether the engine loop is running (it stops whenever no job is left)."""
        return self._task is not None

    async def generate(
        self, prompt_ids: list[int], params: GenerationParams, *, limit: int,
        prompt_tokens: int | None = None,
    ) -> AsyncGenerator[TextDelta, None]:
        """Generate at most ``limit`` tokens after ``prompt_ids``, streaming text.

        Leaving the stream early (``aclose()``, cancellation) takes the job
        out of the batch before the next step and frees its cache.
        """
        job = self._submit(EngineRequest(
            prompt_ids, params, limit=limit, detokenizer=self._runner.detokenizer(prompt_ids),
            prompt_tokens=len(prompt_ids) if prompt_tokens is None else prompt_tokens,
        ))
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            if not job.done:
                self._cancel(job)

    async def wait_idle(self) -> None:
        """Wait until no job is left and the cache of every finished or
        abandoned job is freed (which happens at the step after it left)."""
        while self._task is not None:
            await asyncio.wait([self._task])

    async def close(self) -> None:
        """Fail every waiting and running job with :class:`BackendClosed`, free
        their cache and stop the worker thread; safe to call more than once."""
        self._closed = True
        while self._waiting:
            self._fail(self._waiting.popleft(), self._closed_error)
        if self._task is not None:
            await asyncio.wait([self._task])
        self._executor.shutdown(wait=True)

    def _submit(self, job: EngineRequest) -> EngineRequest:
        if self._closed:
            raise self._closed_error()
        if len(self._waiting) >= self.max_waiting:
            raise BackendOverloaded(
                f"{self.name}: {len(self._waiting)} requests are already waiting for a slot in "
                f"the batch (max_waiting={self.max_waiting}); retry later, or raise "
                "max_waiting or max_batch_size"
            )
        loop = asyncio.get_running_loop()
        if self._task is not None and loop is not self._loop:
            raise RuntimeError(
                f"{self.name}: the engine is serving requests on another event loop; "
                "use one backend per event loop"
            )
        self._waiting.append(job)
        if self._task is None:
            self._loop = loop
            self._task = loop.create_task(self._run(), name=f"genweave-{self.name}")
        return job

    def _cancel(self, job: EngineRequest) -> None:
        """The consumer left: the job leaves the batch before the next step."""
        job.cancelled = True
        self._counts["cancelled"] += 1
        if job in self._waiting:
            self._waiting.remove(job)
        elif job in self._running:
            self._running.remove(job)
            self._leaving.append(job)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self._closed:
                    await self._shutdown(loop)
                    break
                leaving, self._leaving = self._leaving, []
                joining = self._admit()
                running = list(self._running)
                if not running:
                    if not leaving:
                        break  # idle: a later request starts a new loop
                    await loop.run_in_executor(self._executor, self._runner.release, leaving)
                    continue
                try:
                    tokens = await loop.run_in_executor(
                        self._executor, self._work, leaving, joining, running
                    )
                except Exception as exc:  # the model failed: fail this batch, keep serving
                    await self._abort(loop, running, exc)
                    continue
                self._deliver(running, tokens)
        finally:
            # Normally empty; after the loop task was cancelled (its event loop
            # shutting down), free what the runner still holds, without waiting.
            self._task = None
            orphans = [*self._leaving, *self._running]
            for job in [*self._running, *self._waiting]:
                self._fail(job, self._closed_error)
            self._running.clear()
            self._waiting.clear()
            self._leaving.clear()
            if orphans:
                self._executor.submit(self._runner.release, orphans)

    def _admit(self) -> list[EngineRequest]:
        room = self.max_batch_size - len(self._running)
        if self._running and not self._runner.can_join:
            room = 0
        joining = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
        self._running.extend(joining)
        self._counts["admitted"] += len(joining)
        return joining

    def _work(self, leaving: list[EngineRequest], joining: list[EngineRequest],
              running: list[EngineRequest]) -> list[int]:
        """One engine step, in the worker thread."""
        if leaving:
            self._runner.release(leaving)
        if joining:
            self._runner.admit(joining)
        return self._runner.step(running)

    def _deliver(self, jobs: list[EngineRequest], tokens: list[int]) -> None:
        self._counts["steps"] += 1
        self._counts["tokens"] += len(tokens)
        for job, token in zip(jobs, tokens, strict=True):
            if job.cancelled:
                continue  # left during the step; the next step releases it
            job.generated += 1
            if token in self._runner.eos_ids:
                self._finish(job, "", "stop", flush=True)
                continue
            text, stopped = job.stops.feed(job.detokenizer.push(token))
            if stopped:
                self._finish(job, text, "stop", flush=False)
            elif job.generated >= job.limit:
                self._finish(job, text, "length", flush=True)
            elif text:
                job.queue.put_nowait(TextDelta(text))

    def _finish(self, job: EngineRequest, text: str, reason: FinishReason, *, flush: bool) -> None:
        if flush:
            tail, stopped = job.stops.feed(job.detokenizer.flush())
            text += tail if stopped else tail + job.stops.flush()
        usage = TokenUsage(job.prompt_tokens, job.generated)
        job.queue.put_nowait(TextDelta(text, reason, usage))
        job.done = True
        self._counts["finished"] += 1
        self._running.remove(job)
        self._leaving.append(job)

    async def _abort(
        self, loop: asyncio.AbstractEventLoop, jobs: list[EngineRequest], exc: Exception
    ) -> None:
        def error() -> GenerationError:
            failure = GenerationError(
                f"{self.name}: the model failed while generating: {type(exc).__name__}: {exc}"
            )
            failure.__cause__ = exc
            return failure

        for job in jobs:
            self._fail(job, error)
            if job in self._running:
                self._running.remove(job)
        # The jobs have failed already; a runner that cannot even free them
        # will say so again at the next step.
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self._executor, self._runner.release, jobs)

    async def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        leaving = [*self._leaving, *self._running]
        for job in self._running:
            self._fail(job, self._closed_error)
        self._running.clear()
        self._leaving.clear()
        if leaving:
            await loop.run_in_executor(self._executor, self._runner.release, leaving)

    def _fail(self, job: EngineRequest, error: Callable[[], BaseException]) -> None:
        if not job.done:
            job.done = True
            job.queue.put_nowait(error())

    def _closed_error(self) -> BackendClosed:
        return BackendClosed(f"{self.name}: the backend was closed; create a new one")
