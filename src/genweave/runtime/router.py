"""Calls from this process to components in other groups.

The router picks a ready replica of the target group by least outstanding
requests, keeps one multiplexed connection per replica, and retries only what
cannot run twice (see ``genweave.resilience``).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, Final

import msgspec

from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.component import MethodSpec
from genweave.errors import CallError, DeadlineExceeded, Unavailable
from genweave.observe.tracecontext import outgoing_traceparent
from genweave.resilience import RetryPolicy
from genweave.runtime.membership import Membership
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect

__all__ = ["Router"]

DEFAULT_READY_WAIT: Final = 10.0
"""Seconds a call waits for a group with no ready replica (e.g. while it restarts)."""


class Router:
    """Chooses replicas and connections for outgoing calls of one process."""

    def __init__(self, app: str, caller: str, membership: Membership, *,
                 retry: RetryPolicy | None = None, ready_wait: float = DEFAULT_READY_WAIT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.app = app
        self.caller = caller
        self.membership = membership
        self.retry = retry or RetryPolicy()
        self.ready_wait = ready_wait
        self.max_message_bytes = max_message_bytes
        self._connections: dict[str, ClientConnection] = {}
        self._connecting: dict[str, asyncio.Task[ClientConnection]] = {}
        self._turn = itertools.count()
        self._load: collections.Counter[str] = collections.Counter()
        """Calls this router has routed to each replica and not yet finished."""

    async def call(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                   meta: dict[str, str], timeout: float | None, traceparent: str,
                   retry: RetryPolicy | None = None) -> Any:
        """One unary call to ``group``, retried on another replica where that is safe."""
        retry = retry or self.retry
        endpoints = self.membership.endpoints(group)
        if len(endpoints) == 1:
            # Fast path: one replica, already connected; nothing to balance.
            connection = self._connections.get(endpoints[0])
            if connection is not None and connection.is_open:
                try:
                    return await connection.call(spec, args, meta, timeout, traceparent)
                except Unavailable as error:
                    _name_target(error, spec)
                    if not retry.should_retry(error, 1, spec.options.idempotent):
                        raise
        return await self._call(group, spec, args, meta, timeout, traceparent, retry)

    async def _call(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                    meta: dict[str, str], timeout: float | None, traceparent: str,
                    retry: RetryPolicy) -> Any:
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + timeout
        tried: set[str] = set()
        for attempt in itertools.count(1):
            address = ""
            try:
                address = await self._choose(group, spec, tried, _left(until, loop, spec))
                self._load[address] += 1
                try:
                    connection = await self._connection(address)
                    return await connection.call(spec, args, meta, _left(until, loop, spec),
                                                 traceparent)
                finally:
                    self._load[address] -= 1
            except Unavailable as error:
                _name_target(error, spec)
                if not retry.should_retry(error, attempt, spec.options.idempotent):
                    raise
                tried.add(address)
                await asyncio.sleep(retry.delay(attempt))
        raise AssertionError("unreachable")

    async def stream(self, group: str, spec: MethodSpec, args: msgspec.Struct,
                     meta: dict[str, str], timeout: float | None, traceparent: str,
                     retry: RetryPolicy | None = None) -> AsyncGenerator[Any, None]:
        """One streaming call; retried only until its first item has arrived."""
        retry = retry or self.retry
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + timeout
        tried: set[str] = set()
        started = False
        for attempt in itertools.count(1):
            address = ""
            try:
                address = await self._choose(group, spec, tried, _left(until, loop, spec))
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
                _name_target(error, spec)
                if started or not retry.should_retry(error, attempt, spec.options.idempotent):
                    raise
                tried.add(address)
                await asyncio.sleep(retry.delay(attempt))

    async def call_at(self, address: str, spec: MethodSpec, args: msgspec.Struct,
                      timeout: float | None = None) -> Any:
        """A call to one specific replica: no balancing, no retry (admin and probes)."""
        connection = await self._connection(address)
        return await connection.call(spec, args, {}, timeout, outgoing_traceparent())

    async def _choose(self, group: str, spec: MethodSpec, tried: set[str],
                      timeout: float | None) -> str:
        endpoints = self.membership.endpoints(group)
        if not endpoints and group in self.membership.down:
            raise Unavailable(f"group '{group}' is stopped", component=spec.component,
                              method=spec.name)
        if not endpoints:
            wait = self.ready_wait if timeout is None else min(timeout, self.ready_wait)
            endpoints = await self.membership.wait_for(group, wait)
            if not endpoints:
                raise Unavailable(f"no ready replica of group '{group}'",
                                  component=spec.component, method=spec.name)
        return self._least_loaded([e for e in endpoints if e not in tried] or list(endpoints))

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
        for task in list(self._connecting.values()):
            task.cancel()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def _left(until: float | None, loop: asyncio.AbstractEventLoop, spec: MethodSpec) -> float | None:
    if until is None:
        return None
    left = until - loop.time()
    if left <= 0:
        raise DeadlineExceeded("deadline passed before the call could be sent",
                               component=spec.component, method=spec.name)
    return left


def _name_target(error: CallError, spec: MethodSpec) -> None:
    if not error.component:
        error.component, error.method = spec.component, spec.name
        error.args = (error._render(),)
