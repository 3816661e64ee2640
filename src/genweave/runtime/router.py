"""Calls from this process to components in other groups.

The router picks a ready replica of the target group by least outstanding
requests, keeps one multiplexed connection per replica, and retries only what
cannot run twice (see ``genweave.resilience``).

For a group that runs variants (experiments), it first picks the variant: by
weight, at a point derived from the caller's ``user`` (or API key) metadata so
that one user always lands on the same variant, and sends a copy of the call to
each shadow variant, whose result is counted and discarded.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import random
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, Final

import msgspec

from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.component import MethodSpec
from genweave.errors import CallError, DeadlineExceeded, Overloaded, Unavailable
from genweave.observe.metrics import REGISTRY
from genweave.observe.tracecontext import outgoing_traceparent
from genweave.resilience import RetryPolicy
from genweave.runtime.admission import UNLIMITED
from genweave.runtime.membership import PRIMARY, Membership
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect

__all__ = ["Router"]

DEFAULT_READY_WAIT: Final = 10.0
"""Seconds a call waits for a group with no ready replica (e.g. while it restarts)."""
SHADOW_LIMIT: Final = 64
"""Shadow copies in flight per router; beyond it copies are skipped, never queued."""
STICKY_KEYS: Final = ("user", "api_key")
"""Call metadata that keeps a caller on one variant, in order of preference."""
_NO_RETRY: Final = RetryPolicy(attempts=1)


class Router:
    """Chooses replicas and connections for outgoing calls of one process."""

    def __init__(self, app: str, caller: str, membership: Membership, *,
                 retry: RetryPolicy | None = None, ready_wait: float = DEFAULT_READY_WAIT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.caller = caller
        self.membership = membership
        self.retry = retry or RetryPolicy()
        self.ready_wait = ready_wait
        self.max_message_bytes = max_message_bytes
        self.limits: Mapping[str, int] = limits or {}
        """Group -> calls in flight this router sends to one replica at most (its
        ``max_in_flight``); beyond it calls are refused here with ``Overloaded``."""
        self._connections: dict[str, ClientConnection] = {}
        self._connecting: dict[str, asyncio.Task[ClientConnection]] = {}
        self._turn = itertools.count()
        self._load: collections.Counter[str] = collections.Counter()
        """Calls this router has routed to each replica and not yet finished."""
        self._shadows: set[asyncio.Task[None]] = set()

    async def call(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                   meta: dict[str, str], timeout: float | None, traceparent: str,
                   retry: RetryPolicy | None = None) -> Any:
        """One unary call to ``group``, retried on another replica where that is safe."""
        retry = retry or self.retry
        if group in self.membership.splits:
            return await self._split_call(group, spec, args, meta, timeout, traceparent, retry)
        endpoints = self.membership.endpoints(group)
        if len(endpoints) == 1:
            # Fast path: one replica, already connected; nothing to balance.
            address = endpoints[0]
            connection = self._connections.get(address)
            if connection is not None and connection.is_open:
                load = self._load
                if load[address] >= self.limits.get(group, UNLIMITED):
                    raise self._at_limit(group, spec, 1)
                load[address] += 1
                try:
                    return await connection.call(spec, args, meta, timeout, traceparent)
                except Unavailable as error:
                    # An overloaded only replica is not asked again: refuse at once.
                    if isinstance(error, Overloaded) or not _retryable(error, spec, retry, 1):
                        raise
                finally:
                    load[address] -= 1
        return await self._call(group, spec, args, meta, timeout, traceparent, retry)

    def _at_limit(self, group: str, spec: MethodSpec, replicas: int) -> Overloaded:
        return Overloaded(
            f"this caller already has {self.limits[group]} calls in flight on each of the "
            f"{replicas} ready replica{'s' if replicas != 1 else ''} of group '{group}'",
            component=spec.component, method=spec.name)

    def _route(self, group: str, spec: MethodSpec, args: msgspec.Struct, meta: dict[str, str],
               timeout: float | None, traceparent: str) -> str:
        """The variant that serves this call; shadow variants get their copies now."""
        for shadow in self._shadow_splits(group):
            self._spawn_shadow(self._shadow_call(group, spec, args, meta, timeout, traceparent,
                                                 shadow))
        return self._pick(group, meta)

    async def _split_call(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                          meta: dict[str, str], timeout: float | None, traceparent: str,
                          retry: RetryPolicy) -> Any:
        variant = self._route(group, spec, args, meta, timeout, traceparent)
        stats = REGISTRY.variant(group, variant)
        start, ok = time.perf_counter(), False
        try:
            result = await self._call(group, spec, args, meta, timeout, traceparent, retry,
                                      variant)
            ok = True
            return result
        finally:
            stats.record(time.perf_counter() - start, ok)

    async def _shadow_call(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                           meta: dict[str, str], timeout: float | None, traceparent: str,
                           variant: str) -> None:
        stats = REGISTRY.variant(group, variant)
        start, ok = time.perf_counter(), False
        try:
            if spec.stream:
                items = self._stream(group, spec, args, meta, timeout, traceparent, _NO_RETRY,
                                     variant)
                async with aclosing(items):
                    async for _ in items:
                        pass
            else:
                await self._call(group, spec, args, meta, timeout, traceparent, _NO_RETRY,
                                 variant)
            ok = True
        except CallError:
            pass  # a shadow's failure is counted, never seen by the caller
        finally:
            stats.record(time.perf_counter() - start, ok)

    def _spawn_shadow(self, copy: Any) -> None:
        if len(self._shadows) >= SHADOW_LIMIT:
            copy.close()
            return
        task = asyncio.ensure_future(copy)
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    def _pick(self, group: str, meta: dict[str, str]) -> str:
        """The variant of ``group`` that serves a caller with this metadata."""
        splits = self.membership.splits[group]
        point = _sticky_point(group, meta)
        total = 0.0
        for split in splits:
            if split.shadow:
                continue
            total += split.weight
            if point < total:
                return split.variant if split.addresses else splits[0].variant
        return splits[0].variant

    def _shadow_splits(self, group: str) -> list[str]:
        """The shadow variants that get a copy of this call (each copies ``weight``% of calls)."""
        return [s.variant for s in self.membership.splits[group]
                if s.shadow and s.addresses and random.uniform(0, 100) < s.weight]

    async def _call(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                    meta: dict[str, str], timeout: float | None, traceparent: str,
                    retry: RetryPolicy, variant: str | None = None) -> Any:
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + timeout
        tried: set[str] = set()
        for attempt in itertools.count(1):
            address = ""
            try:
                address = await self._choose(group, spec, tried, _left(until, loop, spec),
                                             variant)
                self._load[address] += 1
                try:
                    connection = await self._connection(address)
                    return await connection.call(spec, args, meta, _left(until, loop, spec),
                                                 traceparent)
                finally:
                    self._load[address] -= 1
            except Unavailable as error:
                if not _retryable(error, spec, retry, attempt):
                    raise
                tried.add(address)
                await self._before_retry(group, variant, error, tried, retry, attempt)
        raise AssertionError("unreachable")

    def stream(self, group: str, spec: MethodSpec, args: msgspec.Struct,
               meta: dict[str, str], timeout: float | None, traceparent: str,
               retry: RetryPolicy | None = None) -> AsyncGenerator[Any, None]:
        """One streaming call; retried only until its first item has arrived."""
        retry = retry or self.retry
        if group in self.membership.splits:
            return self._split_stream(group, spec, args, meta, timeout, traceparent, retry)
        return self._stream(group, spec, args, meta, timeout, traceparent, retry)

    async def _split_stream(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                            meta: dict[str, str], timeout: float | None, traceparent: str,
                            retry: RetryPolicy) -> AsyncGenerator[Any, None]:
        variant = self._route(group, spec, args, meta, timeout, traceparent)
        stats = REGISTRY.variant(group, variant)
        start, ok = time.perf_counter(), False
        try:
            items = self._stream(group, spec, args, meta, timeout, traceparent, retry, variant)
            async with aclosing(items):
                async for item in items:
                    yield item
            ok = True
        finally:
            stats.record(time.perf_counter() - start, ok)

    async def _stream(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                      meta: dict[str, str], timeout: float | None, traceparent: str,
                      retry: RetryPolicy, variant: str | None = None,
                      ) -> AsyncGenerator[Any, None]:
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + timeout
        tried: set[str] = set()
        started = False
        for attempt in itertools.count(1):
            address = ""
            try:
                address = await self._choose(group, spec, tried, _left(until, loop, spec),
                                             variant)
                self._load[address] += 1
                try:
                    connection = await self._connection(address)
                    items = connection.stream(spec, args, meta, _left(until, loop, spec),
                                              traceparent)
                    async with aclosing(items):
                        async for item in items:
                            started = True
                            yield item
                finally:
                    self._load[address] -= 1
                return
            except Unavailable as error:
                if not _retryable(error, spec, retry, attempt) or started:
                    raise
                tried.add(address)
                await self._before_retry(group, variant, error, tried, retry, attempt)

    async def _before_retry(self, group: str, variant: str | None, error: Unavailable,
                            tried: set[str], retry: RetryPolicy, attempt: int) -> None:
        """Wait before the next attempt, or re-raise ``error`` when none is worth making.

        An overloaded replica is not asked again (that would add to its load and
        to the caller's wait); another one is tried at once, if there is one.
        """
        if isinstance(error, Overloaded):
            if all(a in tried for a in self.membership.endpoints(group, variant)):
                raise error
            return
        await asyncio.sleep(retry.delay(attempt))

    async def call_at(self, address: str, spec: MethodSpec, args: msgspec.Struct,
                      timeout: float | None = None) -> Any:
        """A call to one specific replica: no balancing, no retry (admin and probes)."""
        connection = await self._connection(address)
        return await connection.call(spec, args, {}, timeout, outgoing_traceparent())

    async def _choose(self, group: str, spec: MethodSpec, tried: set[str],
                      timeout: float | None, variant: str | None = None) -> str:
        endpoints = self.membership.endpoints(group, variant)
        if not endpoints and variant not in (None, PRIMARY):
            raise Unavailable(f"variant '{variant}' of group '{group}' has no ready replica",
                              component=spec.component, method=spec.name)
        if not endpoints and group in self.membership.down:
            raise Unavailable(f"group '{group}' is stopped", component=spec.component,
                              method=spec.name)
        if not endpoints:
            wait = self.ready_wait if timeout is None else min(timeout, self.ready_wait)
            endpoints = await self.membership.wait_for(group, wait)
            if not endpoints:
                raise Unavailable(f"no ready replica of group '{group}'",
                                  component=spec.component, method=spec.name)
        limit = self.limits.get(group, UNLIMITED)
        open_ = [e for e in endpoints if self._load[e] < limit]
        if not open_:
            # Refused here, at once: the replicas would refuse it too, after a round trip
            # through event loops that are busy with the calls already sent.
            raise self._at_limit(group, spec, len(endpoints))
        return self._least_loaded([e for e in open_ if e not in tried] or open_)

    async def _connection(self, address: str) -> ClientConnection:
        connection = self._connections.get(address)
        if connection is None or not connection.is_open:
            connection = await self._connect(address)
        return connection

    def _least_loaded(self, endpoints: list[str]) -> str:
        if len(endpoints) == 1:
            return endpoints[0]
        # Start at a rotating offset so that ties spread over replicas.
        start = next(self._turn) % len(endpoints)
        load = self._load
        return min(endpoints[start:] + endpoints[:start], key=lambda address: load[address])

    async def _connect(self, address: str) -> ClientConnection:
        task = self._connecting.get(address)
        if task is None:
            task = asyncio.ensure_future(connect(address, self._new_connection))
            self._connecting[address] = task
            task.add_done_callback(lambda _: self._connecting.pop(address, None))
        connection = await asyncio.shield(task)
        self._connections[address] = connection
        return connection

    def _new_connection(self) -> ClientConnection:
        return ClientConnection(self.app, self.caller, self.max_message_bytes)

    def outstanding(self) -> dict[str, int]:
        """Calls in flight per replica address, as routed by this router."""
        return {address: n for address, n in self._load.items() if n}

    async def close(self) -> None:
        for task in list(self._connecting.values()) + list(self._shadows):
            task.cancel()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def _sticky_point(group: str, meta: dict[str, str]) -> float:
    """A point in [0, 100): the same for every call of one user, random without one."""
    for key in STICKY_KEYS:
        who = meta.get(key)
        if who:
            digest = hashlib.blake2b(f"{group}\0{who}".encode(), digest_size=8).digest()
            return int.from_bytes(digest) / 2**64 * 100
    return random.uniform(0, 100)


def _left(until: float | None, loop: asyncio.AbstractEventLoop, spec: MethodSpec) -> float | None:
    if until is None:
        return None
    left = until - loop.time()
    if left <= 0:
        raise DeadlineExceeded("deadline passed before the call could be sent",
                               component=spec.component, method=spec.name)
    return left


def _retryable(error: CallError, spec: MethodSpec, retry: RetryPolicy, attempt: int) -> bool:
    """Whether to try ``error``'s call again; names the target in an error that lacks one.

    Only a failure of the target itself is retried: an ``Unavailable`` that the
    target passed on from its own callee means the target ran (and may run
    again to no avail), so it is the target's answer, not a refusal.
    """
    if not error.component:
        error.component, error.method = spec.component, spec.name
        error.args = (error._render(),)
    if error.component != spec.component or error.method != spec.name:
        return False
    return retry.should_retry(error, attempt, spec.options.idempotent)
