"""Calls from this process to components in other groups: replica choice, connections, retries.

The router picks a ready replica of the target group by least outstanding
requests, keeps one multiplexed connection per replica, and retries only what
cannot run twice, as the call's ``RetryPolicy`` says (see ``genweave.resilience``).
Unary calls and streams go through the same retry loop; a stream is retried only
until its first item has arrived.  A replica that refuses a call as overloaded is
never asked again for that call: another one is tried at once (``RetryPolicy.next_try``).
A group that runs variants goes through ``genweave.runtime.variants`` first, which
picks the variant, then the same loop.  A connection that fails (it cannot be
opened, or it closed under a call) is reported to ``on_unreachable``, so that
discovery takes that address out of the membership before the next call
(``genweave.runtime.discovery``); only failures pay for it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any, Final, TypeVar

import msgspec

from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.component import MethodSpec
from genweave.errors import CallError, DeadlineExceeded, Overloaded, Unavailable
from genweave.observe.tracecontext import outgoing_traceparent
from genweave.resilience import RetryPolicy
from genweave.runtime.admission import UNLIMITED
from genweave.runtime.membership import PRIMARY, Membership
from genweave.runtime.outgoing import OutgoingCall
from genweave.runtime.variants import Variants
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect

__all__ = ["DEFAULT_READY_WAIT", "Router"]

DEFAULT_READY_WAIT: Final = 10.0
"""Seconds a call waits for a group with no ready replica (e.g. while it restarts)."""

T = TypeVar("T")
Exchange = Callable[[ClientConnection, MethodSpec, msgspec.Struct, dict[str, str], float | None,
                     str], Awaitable[T]]
"""One try of a call on one connection: a unary call, or opening a stream."""


class Router:
    """Chooses replicas and connections for outgoing calls of one process.

    Example::

        router = Router("app", "frontend/0", membership)
        result = await router.call(OutgoingCall("model", spec, args, {}, None, traceparent))
    """

    def __init__(self, app: str, caller: str, membership: Membership, *,
                 retry: RetryPolicy | None = None, ready_wait: float = DEFAULT_READY_WAIT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 limits: Mapping[str, int] | None = None,
                 on_unreachable: Callable[[str], None] | None = None) -> None:
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
        self.on_unreachable = on_unreachable
        """Told the address of each replica whose connection failed (see the module docstring)."""
        self._variants = Variants(self._send, self._stream)

    def call(self, call: OutgoingCall) -> Awaitable[Any]:
        """One unary call, retried on another replica where that is safe."""
        splits = self.membership.splits.get(call.group)
        if splits:
            return self._variants.call(call, splits)
        return self._tries(call, _unary)

    def stream(self, call: OutgoingCall) -> AsyncGenerator[Any, None]:
        """One streaming call; retried only until its first item has arrived."""
        splits = self.membership.splits.get(call.group)
        if splits:
            return self._variants.stream(call, splits)
        return self._stream(call)

    def _send(self, call: OutgoingCall) -> Awaitable[Any]:
        return self._tries(call, _unary)

    async def _stream(self, call: OutgoingCall) -> AsyncGenerator[Any, None]:
        items, first = await self._tries(call, _open_stream)
        address = call.address
        self._load[address] += 1  # the replica stays loaded until the stream ends
        try:
            async with aclosing(items):
                if first is not _ENDED:
                    yield first
                    async for item in items:
                        yield item
        finally:
            self._load[address] -= 1

    async def _tries(self, call: OutgoingCall, exchange: Exchange[T]) -> T:
        """The one retry loop: ``exchange`` on a chosen replica until a try succeeds.

        Each try counts against ``call.retry`` (at most ``attempts`` tries), each retry
        waits the policy's backoff, and ``call.deadline`` bounds them all together.
        """
        attempt = 1
        tried = _NONE_TRIED  # replicas tried so far: address -> refused it as overloaded
        while True:
            address = ""
            try:
                address = self._choose(call, tried) or await self._when_ready(call, tried)
                call.address = address
                load = self._load
                load[address] += 1
                try:
                    connection = self._connections.get(address)
                    if connection is None or not connection.is_open:
                        connection = await self._connect(address)
                    return await exchange(connection, call.spec, call.args, call.meta,
                                          None if call.deadline is None else _left(call),
                                          call.traceparent)
                finally:
                    load[address] -= 1
            except Unavailable as error:
                if address and self.on_unreachable is not None:
                    self._check_connection(address)
                if tried is _NONE_TRIED:
                    tried = {}
                await self._before_retry(call, error, attempt, address, tried)
                attempt += 1

    def _check_connection(self, address: str) -> None:
        """After a failed try: report ``address`` if its connection failed, not just the call."""
        connection = self._connections.get(address)
        if (connection is None or not connection.is_open) and self.on_unreachable is not None:
            self.on_unreachable(address)

    async def _before_retry(self, call: OutgoingCall, error: Unavailable, attempt: int,
                            address: str, tried: dict[str, bool]) -> None:
        """Wait out the policy's backoff before the next try, or re-raise ``error``."""
        spec = call.spec
        if not _own_failure(error, spec):
            raise error
        plan = (call.retry or self.retry).next_try(error, attempt, spec.options.idempotent)
        if plan is None:
            raise error
        tried[address] = tried.get(address, False) or plan.elsewhere
        endpoints = self.membership.endpoints(call.group, call.variant)
        if plan.elsewhere and all(tried.get(a) for a in endpoints):
            raise error
        delay = plan.delay
        if call.deadline is not None:
            delay = min(delay, call.deadline - asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)

    def _choose(self, call: OutgoingCall, tried: dict[str, bool]) -> str:
        """The least loaded ready replica under this router's limit, one not tried if any.

        A replica that refused this call as overloaded is never chosen again for it.
        Returns "" when the group has no ready replica (``_when_ready`` waits for one).
        """
        endpoints = self.membership.endpoints(call.group, call.variant)
        if len(endpoints) == 1 and not tried:  # the common case, decided without a list
            address = endpoints[0]
            if self._load[address] < self.limits.get(call.group, UNLIMITED):
                return address
        if not endpoints:
            return ""
        limit = self.limits.get(call.group, UNLIMITED)
        load = self._load
        open_ = [e for e in endpoints if load[e] < limit and not tried.get(e)]
        if not open_:
            # Refused here, at once: the replicas would refuse it too, after a round trip
            # through event loops that are busy with the calls already sent.
            raise self._at_limit(call, len(endpoints))
        return self._least_loaded([e for e in open_ if e not in tried] or open_)

    async def _when_ready(self, call: OutgoingCall, tried: dict[str, bool]) -> str:
        """Wait (up to ``ready_wait``, within the deadline) for the group to have a replica."""
        group, spec, variant = call.group, call.spec, call.variant
        if variant not in (None, PRIMARY):
            raise Unavailable(f"variant '{variant}' of group '{group}' has no ready replica",
                              component=spec.component, method=spec.name)
        if group in self.membership.down:
            raise Unavailable(f"group '{group}' is stopped", component=spec.component,
                              method=spec.name)
        left = _left(call)
        await self.membership.wait_for(group, self.ready_wait if left is None
                                       else min(left, self.ready_wait))
        address = self._choose(call, tried)
        if not address:
            raise Unavailable(f"no ready replica of group '{group}'",
                              component=spec.component, method=spec.name)
        return address

    def _at_limit(self, call: OutgoingCall, replicas: int) -> Overloaded:
        return Overloaded(
            f"this caller already has {self.limits[call.group]} calls in flight on each of the "
            f"{replicas} ready replica{'s' if replicas != 1 else ''} of group '{call.group}'",
            component=call.spec.component, method=call.spec.name)

    def _least_loaded(self, endpoints: list[str]) -> str:
        if len(endpoints) == 1:
            return endpoints[0]
        # Start at a rotating offset so that ties spread over replicas.
        start = next(self._turn) % len(endpoints)
        load = self._load
        return min(endpoints[start:] + endpoints[:start], key=lambda address: load[address])

    async def call_at(self, address: str, spec: MethodSpec, args: msgspec.Struct,
                      timeout: float | None = None) -> Any:
        """A call to one specific replica: no balancing, no retry (admin and probes)."""
        connection = self._connections.get(address)
        if connection is None or not connection.is_open:
            connection = await self._connect(address)
        return await connection.call(spec, args, {}, timeout, outgoing_traceparent())

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
        self._variants.close()
        for task in list(self._connecting.values()):
            task.cancel()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


_NONE_TRIED: Final[dict[str, bool]] = {}
"""Shared and never written: a first try allocates nothing for bookkeeping."""
_ENDED: Final = object()
"""The first item of a stream that ended without any."""


def _unary(connection: ClientConnection, spec: MethodSpec, args: msgspec.Struct,
           meta: dict[str, str], timeout: float | None, traceparent: str) -> Awaitable[Any]:
    """One try of a unary call."""
    return connection.call(spec, args, meta, timeout, traceparent)


async def _open_stream(connection: ClientConnection, spec: MethodSpec, args: msgspec.Struct,
                       meta: dict[str, str], timeout: float | None,
                       traceparent: str) -> tuple[AsyncGenerator[Any, None], Any]:
    """One try of a stream: open it and wait for its first item (or its end).

    Up to here a stream may be retried; once an item has arrived, it may not.
    """
    items = connection.stream(spec, args, meta, timeout, traceparent)
    try:
        return items, await anext(items)
    except StopAsyncIteration:
        return items, _ENDED
    except BaseException:
        await items.aclose()
        raise


def _left(call: OutgoingCall) -> float | None:
    """Seconds left before the call's deadline; ``DeadlineExceeded`` once it has passed."""
    if call.deadline is None:
        return None
    left = call.deadline - asyncio.get_running_loop().time()
    if left <= 0:
        raise DeadlineExceeded("deadline passed before the call could be sent",
                               component=call.spec.component, method=call.spec.name)
    return left


def _own_failure(error: CallError, spec: MethodSpec) -> bool:
    """Whether ``error`` is the target's own failure; names the target in an error that lacks one.

    Only a failure of the target itself is retried: an ``Unavailable`` that the
    target passed on from its own callee means the target ran (and may run
    again to no avail), so it is the target's answer, not a refusal.
    """
    if not error.component:
        error.component, error.method = spec.component, spec.name
        error.args = (error._render(),)
    return error.component == spec.component and error.method == spec.name
