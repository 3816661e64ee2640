"""Dynamic batching: many concurrent single-item calls become a few batch calls.

A model computes a batch of 32 in far less than 32 times the time of one, but
requests arrive one at a time.  :class:`DynamicBatcher` lets each caller await
its own item while it gathers the items that arrive together (up to
``max_batch``, waiting at most ``max_wait`` after the first) and runs the
batch function once, in a worker thread so the event loop keeps serving.

Batches run one after another on one dedicated thread: the function is
CPU-bound and usually already uses every core it is given, and a single thread
keeps non-thread-safe models (tokenizers) safe.  Items that arrive while a
batch runs form the next one, so under load batches fill up on their own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Generic, NamedTuple, TypeVar

from genweave.errors import GenweaveError

__all__ = ["BatchFunction", "BatcherClosed", "BatcherStats", "DynamicBatcher"]

T = TypeVar("T")
R = TypeVar("R")

BatchFunction = Callable[[list[T]], Sequence[R | BaseException]]
"""Takes the items, returns one result per item, in order.  Returning an exception
for an item fails only that item's caller; raising fails the whole batch."""

DEFAULT_MAX_BATCH: Final = 32
DEFAULT_MAX_WAIT: Final = 0.005
"""Seconds the first item of a batch waits for company: small next to a model call."""


class BatcherClosed(GenweaveError, RuntimeError):
    """``submit`` was called after ``close``."""


class BatcherStats(NamedTuple):
    batches: int
    items: int
    largest: int

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class _Pending(NamedTuple, Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    arrived: float


class DynamicBatcher(Generic[T, R]):
    """Collects concurrent :meth:`submit` calls into batches for a sync batch function.

    Use it from one event loop; it starts its worker on the first ``submit``.
    A caller cancelled while waiting is simply left out of its batch, or its
    result discarded if the batch already runs.  :meth:`close` stops accepting
    items and waits for every accepted one to finish.

    >>> encoder = SentenceEncoder.load()                      # doctest: +SKIP
    >>> batcher = DynamicBatcher(lambda texts: list(encoder.encode(texts)), max_batch=32)
    >>> vector = await batcher.submit("How do I open a file?")  # doctest: +SKIP
    >>> await batcher.close()                                 # doctest: +SKIP
    """

    def __init__(
        self,
        function: BatchFunction[T, R],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait: float = DEFAULT_MAX_WAIT,
        name: str = "batcher",
    ) -> None:
        if max_batch < 1 or max_wait < 0:
            raise ValueError(
                f"DynamicBatcher(max_batch={max_batch}, max_wait={max_wait}): "
                "max_batch must be at least 1 and max_wait at least 0"
            )
        self._function = function
        self.max_batch, self.max_wait, self.name = max_batch, max_wait, name
        self._queue: deque[_Pending[T, R]] = deque()
        self._arrival = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._batches = self._items = self._largest = 0

    @property
    def stats(self) -> BatcherStats:
        """Batches run so far, items in them, and the largest batch."""
        return BatcherStats(self._batches, self._items, self._largest)

    async def submit(self, item: T) -> R:
        """Waits for the item's batch to run and returns the item's result."""
        if self._closed:
            raise BatcherClosed(f"{self.name}: closed; no more items are accepted")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append(_Pending(item, future, loop.time()))
        self._arrival.set()
        if self._worker is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
            self._worker = loop.create_task(self._run(), name=f"{self.name}-worker")
        return await future

    async def close(self) -> None:
        """Refuses new items, finishes the accepted ones, then stops the worker thread."""
        self._closed = True
        self._arrival.set()
        if self._worker is not None:
            await asyncio.shield(self._worker)
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> DynamicBatcher[T, R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self) -> None:
        try:
            while self._queue or not self._closed:
                if not self._queue:
                    self._arrival.clear()
                    await self._arrival.wait()
                    continue
                await self._gather()
                batch = self._take()
                if batch:
                    await self._dispatch(batch)
        finally:  # only reached early if the loop cancels the worker: fail, never hang
            self._closed = True
            while self._queue:
                self._queue.popleft().future.cancel()

    async def _gather(self) -> None:
        """Waits until the batch is full, the first item has waited enough, or closing."""
        loop = asyncio.get_running_loop()
        deadline = self._queue[0].arrived + self.max_wait
        while len(self._queue) < self.max_batch and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Pending[T, R]]:
        batch: list[_Pending[T, R]] = []
        while self._queue and len(batch) < self.max_batch:
            pending = self._queue.popleft()
            if not pending.future.done():  # a cancelled caller is left out
                batch.append(pending)
        return batch

    async def _dispatch(self, batch: list[_Pending[T, R]]) -> None:
        items = [pending.item for pending in batch]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._function, items)
            if len(results) != len(items):
                raise RuntimeError(
                    f"{self.name}: the batch function returned {len(results)} results for "
                    f"{len(items)} items; it must return exactly one per item, in order"
                )
        except asyncio.CancelledError:
            for pending in batch:
                pending.future.cancel()
            raise
        except Exception as error:
            for pending in batch:
                _settle(pending.future, error)
        else:
            for pending, result in zip(batch, results, strict=True):
                _settle(pending.future, result)
        self._batches += 1
        self._items += len(batch)
        self._largest = max(self._largest, len(batch))


def _settle(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    if future.done():  # the caller was cancelled while its batch ran
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
