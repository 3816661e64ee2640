"""The callee's side: serving the components of one group over any number of connections."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final

import msgspec

from genweave import context
from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.component import ComponentSpec, MethodSpec
from genweave.errors import (
    CallError,
    InvalidArgument,
    MessageTooLarge,
    NotFound,
    Overloaded,
    Unavailable,
    error_kind,
    qualified_name,
)
from genweave.observe.metrics import REGISTRY, MethodStats
from genweave.observe.tracecontext import current_traceparent, is_traceparent
from genweave.transport.compat import interface_info
from genweave.transport.framing import FramedProtocol
from genweave.transport.messages import (
    PROTOCOL_VERSION,
    STREAM_WINDOW,
    Cancel,
    Credit,
    End,
    Failure,
    Hello,
    Item,
    Message,
    Reply,
    Request,
    Welcome,
)

__all__ = ["Dispatcher", "ServerConnection", "describe_validation_error"]

logger = logging.getLogger("genweave.server")

_Handler = tuple[Callable[..., Any], MethodSpec, MethodStats]
_DRAINING: Final = "replica is draining and takes no new calls"
UNLIMITED: Final = 1 << 62
DRAIN_QUIET: Final = 0.1
"""Seconds without a new call after which a draining replica may close its connections."""
EXEMPT: Final = frozenset({"genweave.Admin", "genweave.Control"})
"""Components whose calls are never refused for load: metrics and control must get through."""


class Dispatcher:
    """Routes requests to component instances; shared by all connections of a replica.

    Tracks calls in flight so that a graceful stop can wait for them, and
    refuses calls beyond ``max_in_flight`` with ``Overloaded``: a bounded
    queue keeps latency bounded, and the caller's router tries another replica.
    """

    def __init__(self, app: str, where: str, components: Mapping[str, tuple[object, ComponentSpec]],
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_in_flight: int = UNLIMITED) -> None:
        self.app = app
        self.where = where
        self.max_message_bytes = max_message_bytes
        self.max_in_flight = max_in_flight
        self.draining = False
        self.in_flight = 0
        self.refused = 0
        """Calls refused as overloaded since start."""
        self.refused_at = 0.0
        """When a call was last refused for draining (loop time)."""
        self._idle: asyncio.Future[None] | None = None
        self._handlers: dict[tuple[str, str], _Handler] = {
            (name, m.name): (getattr(instance, m.name), m, REGISTRY.method(name, m.name))
            for name, (instance, spec) in components.items()
            for m in spec.methods.values()
        }
        self.welcome = Welcome(PROTOCOL_VERSION, app, where, {
            name: interface_info(spec) for name, (_, spec) in components.items()
        })

    def handler(self, component: str, method: str) -> _Handler:
        try:
            return self._handlers[(component, method)]
        except KeyError:
            known = component in self.welcome.interfaces
            raise NotFound(
                "no such method" if known else f"component is not served at {self.where}",
                component=component, method=method, where=self.where,
            ) from None

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def drain(self, grace: float, quiet: float = DRAIN_QUIET) -> bool:
        """Refuse new calls, then wait up to ``grace`` seconds for calls in flight.

        Then stay up, refusing, until no call has come for ``quiet`` seconds:
        callers learn of the drain through the supervisor a moment later, and a
        call sent meanwhile must get a refusal (which they retry elsewhere), not
        a connection closed under it (which they may not).
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + grace
        self.draining = True
        self.refused_at = loop.time()
        finished = True
        if self.in_flight:
            self._idle = loop.create_future()
            try:
                async with asyncio.timeout_at(until):
                    await self._idle
            except TimeoutError:
                finished = False
        while (wait := min(self.refused_at + quiet, until) - loop.time()) > 0:
            await asyncio.sleep(wait)
        return finished


class ServerConnection(FramedProtocol):
    """One caller's connection: runs each request as a task, cancellable by the caller."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        super().__init__(dispatcher.max_message_bytes)
        self.dispatcher = dispatcher
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._credits: dict[int, _Credit] = {}

    def message_received(self, message: Message) -> None:
        if type(message) is Request:
            self._accept(message)
        elif type(message) is Cancel:
            task = self._tasks.get(message.id)
            if task is not None:
                task.cancel()
        elif type(message) is Credit:
            credit = self._credits.get(message.id)
            if credit is not None:
                credit.grant(message.n)
        elif type(message) is Hello:
            self.send(self.dispatcher.welcome)

    def _accept(self, request: Request) -> None:
        dispatcher = self.dispatcher
        if dispatcher.draining:
            dispatcher.refused_at = asyncio.get_running_loop().time()
            self._fail(request, Unavailable(_DRAINING, component=request.component,
                                            method=request.method, where=dispatcher.where))
            return
        if dispatcher.in_flight >= dispatcher.max_in_flight and request.component not in EXEMPT:
            dispatcher.refused += 1
            self._fail(request, Overloaded(
                f"replica is at its limit of {dispatcher.max_in_flight} calls in flight",
                component=request.component, method=request.method, where=dispatcher.where))
            return
        try:
            fn, spec, stats = dispatcher.handler(request.component, request.method)
        except NotFound as exc:
            self._fail(request, exc)
            return
        slot = _Slot(dispatcher)
        runner = self._run_stream if spec.stream else self._run
        task = asyncio.get_running_loop().create_task(
            _measured(runner(request, fn, spec), stats, slot))
        self._tasks[request.id] = task
        task.add_done_callback(functools.partial(self._done, request.id, slot))

    def _done(self, call_id: int, slot: _Slot, _: object) -> None:
        self._tasks.pop(call_id, None)
        self._credits.pop(call_id, None)
        slot.release()  # only does something for a task cancelled before it ran

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for task in list(self._tasks.values()):
            task.cancel()

    def _prepare(self, request: Request, spec: MethodSpec) -> Any:
        """Decode arguments and install the call's context; raises ``InvalidArgument``."""
        try:
            args = spec.args_decoder.decode(request.args)
        except msgspec.ValidationError as exc:
            raise InvalidArgument(describe_validation_error(str(exc)), component=spec.component,
                                  method=spec.name, where=self.dispatcher.where) from None
        if request.traceparent and is_traceparent(request.traceparent):
            current_traceparent.set(request.traceparent)
        context.set_incoming(request.caller, request.meta)
        if request.timeout is not None:
            context.current_deadline.set(asyncio.get_running_loop().time() + request.timeout)
        return args

    async def _run(self, request: Request, fn: Callable[..., Any], spec: MethodSpec) -> bool:
        try:
            # The deadline is enforced by the caller, which sends Cancel when it passes
            # (and a lost connection cancels too); here it only travels on, to nested calls.
            args = self._prepare(request, spec)
            result = await fn(*_values(args))
            frame = self._encode_result(Reply(request.id, result), spec)
        except Exception as exc:
            self._fail(request, exc)
            return False
        self.send_frame(frame)
        return True

    async def _run_stream(self, request: Request, fn: Callable[..., Any],
                          spec: MethodSpec) -> bool:
        credit = self._credits[request.id] = _Credit(STREAM_WINDOW)
        try:
            args = self._prepare(request, spec)
            iterator = fn(*_values(args))
            try:
                async for item in iterator:
                    await credit.take()
                    await self.drain()
                    self.send_frame(self._encode_result(Item(request.id, item), spec))
            finally:
                await iterator.aclose()
            self.send(End(request.id))
        except Exception as exc:
            self._fail(request, exc)
            return False
        return True

    def _encode_result(self, message: Reply | Item, spec: MethodSpec) -> bytes:
        try:
            return self.encode(message)
        except ValueError as exc:
            raise MessageTooLarge(
                f"result encodes to {exc.args[0]} bytes, above the "
                f"{self.max_message_bytes}-byte message limit",
                component=spec.component, method=spec.name, where=self.dispatcher.where,
            ) from None

    def _fail(self, request: Request, exc: BaseException) -> None:
        self.send(_failure(request, exc, self.dispatcher.where))


class _Slot:
    """One call's place in its dispatcher's count of calls in flight, given back once.

    Given back as the call's task ends, not from its done-callback: uvloop runs
    callbacks after the next socket read, and a request read then would be
    checked against calls that have already finished.
    """

    __slots__ = ("_dispatcher",)

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher: Dispatcher | None = dispatcher
        dispatcher.enter()

    def release(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.leave()
            self._dispatcher = None


async def _measured(run: Coroutine[Any, Any, bool], stats: MethodStats, slot: _Slot) -> None:
    """Run a request handler, counting it in the method's stats."""
    stats.in_flight += 1
    start = time.perf_counter()
    ok = False
    try:
        ok = await run
    finally:
        stats.in_flight -= 1
        stats.record(time.perf_counter() - start, ok)
        slot.release()


class _Credit:
    """How many more stream items the caller is ready to receive."""

    def __init__(self, initial: int) -> None:
        self._available = initial
        self._waiter: asyncio.Future[None] | None = None

    def grant(self, n: int) -> None:
        self._available += n
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self) -> None:
        while self._available <= 0:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self._available -= 1


_values = msgspec.structs.astuple


def _failure(request: Request, exc: BaseException, where: str) -> Failure:
    if isinstance(exc, CallError):
        return Failure(request.id, error_kind(exc), exc.message, exc.component, exc.method,
                       exc.where or where, getattr(exc, "remote_type", ""))
    logger.exception("%s.%s raised", request.component, request.method, exc_info=exc)
    return Failure(request.id, "ComponentError", str(exc), request.component, request.method,
                   where, qualified_name(type(exc)))


_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")


def describe_validation_error(message: str) -> str:
    """Name the parameter in a msgspec validation message.

    ``Expected `int`, got `str` - at `$.n``` becomes
    ``parameter 'n': expected `int`, got `str```.
    """
    missing = _MISSING.match(message)
    if missing:
        return f"missing required parameter '{missing.group(1)}'"
    reason, sep, path = message.partition(" - at `$.")
    if not sep:
        return message
    path = path.rstrip("`")
    name = re.split(r"[.\[]", path, maxsplit=1)[0]
    location = f" (at {path})" if path != name else ""
    return f"parameter '{name}': {reason[:1].lower()}{reason[1:]}{location}"
