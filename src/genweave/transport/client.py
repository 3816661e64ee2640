"""The caller's side of one RPC connection: many concurrent calls multiplexed by id."""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncGenerator
from typing import Any, Final

import msgspec

from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.component import MethodSpec
from genweave.errors import (
    CALL_ERRORS,
    CallError,
    ConnectionLost,
    DeadlineExceeded,
    InterfaceMismatch,
    InvalidArgument,
    MessageTooLarge,
    PermissionDenied,
    ProtocolError,
    Unavailable,
    component_error,
)
from genweave.transport.compat import incompatibility
from genweave.transport.framing import FramedProtocol
from genweave.transport.messages import (
    PROTOCOL_VERSION,
    STREAM_WINDOW,
    Cancel,
    Credit,
    End,
    Failure,
    Hello,
    InterfaceInfo,
    Item,
    Message,
    Reply,
    Request,
    Welcome,
)
from genweave.transport.tls import identity_uri

__all__ = ["ClientConnection", "failure_to_error"]

_CREDIT_BATCH: Final = STREAM_WINDOW // 2


class _Stream:
    """Items received for one streaming call, waiting for the consumer."""

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: collections.deque[Message | BaseException] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None

    def push(self, item: Message | BaseException) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def pop(self) -> Message | BaseException:
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.items.popleft()


class ClientConnection(FramedProtocol):
    """One connection to one callee replica.

    ``call`` and ``stream`` may be used by any number of tasks at once; replies
    are matched to calls by id.  Cancelling the awaiting task sends ``Cancel``
    so the callee stops working on it.
    """

    def __init__(
        self, app: str, caller: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(max_message_bytes)
        self.app = app
        self.caller = caller
        self.tls = tls
        """The TLS context of this connection over TCP; ``None``: the one ``use_tls`` set."""
        self.where = "?"
        self.interfaces: dict[str, InterfaceInfo] = {}
        self._next_id = 1
        self._pending: dict[int, tuple[asyncio.Future[Message], MethodSpec]] = {}
        self._streams: dict[int, tuple[_Stream, MethodSpec]] = {}
        self._welcome: asyncio.Future[Welcome] = asyncio.get_running_loop().create_future()
        self._checked: dict[tuple[str, str], str | None] = {}

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.send(Hello(PROTOCOL_VERSION, self.app, self.caller))

    async def handshake(self) -> Welcome:
        """Wait for the callee's ``Welcome``; fail if the protocol or app differ."""
        welcome = await self._welcome
        wrong_app = self.app and welcome.app != self.app  # "" accepts any app (probes)
        if welcome.protocol != PROTOCOL_VERSION or wrong_app:
            self.close()
            raise Unavailable(
                f"peer at {welcome.where} speaks protocol {welcome.protocol} for app "
                f"'{welcome.app}', expected protocol {PROTOCOL_VERSION} for '{self.app}'"
            )
        self._check_certificate(welcome)
        return welcome

    def _check_certificate(self, welcome: Welcome) -> None:
        """Over TLS, the callee's certificate must name the group its handshake names."""
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_object is None:
            return
        group = welcome.where.partition("/")[0]
        expected = identity_uri(self.app, group)
        names = [v for kind, v in (ssl_object.getpeercert() or {}).get("subjectAltName", ())
                 if kind == "URI"]
        if expected not in names:
            self.close()
            raise PermissionDenied(f"the callee says it is '{welcome.where}' but its certificate "
                                   f"names {', '.join(names) or 'no identity'}, not {expected}",
                                   where=welcome.where)

    def message_received(self, message: Message) -> None:
        if type(message) is Failure and message.id == 0:  # the callee refused this connection
            if not self._welcome.done():
                self._welcome.set_exception(failure_to_error(message))
            return
        if isinstance(message, (Reply, Failure)):
            entry = self._pending.get(message.id)
            if entry is not None and not entry[0].done():
                entry[0].set_result(message)
                return
        if isinstance(message, (Item, End, Failure)):
            stream = self._streams.get(message.id)
            if stream is not None:
                stream[0].push(message)
        elif isinstance(message, Welcome):
            self.where = message.where
            self.interfaces = message.interfaces
            if not self._welcome.done():
                self._welcome.set_result(message)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self._welcome.done():
            self._welcome.set_exception(
                Unavailable(f"connection closed during handshake ({exc or 'EOF'}): the callee "
                            "went away or refused this caller (with mutual TLS, a caller needs "
                            "a certificate from the app's CA)")
            )
        for future, spec in self._pending.values():
            if not future.done():
                future.set_exception(self._lost(spec))
        for stream, spec in self._streams.values():
            stream.push(self._lost(spec))

    def _lost(self, spec: MethodSpec) -> ConnectionLost:
        return ConnectionLost(
            "connection to the callee was lost while the call was in flight",
            component=spec.component,
            method=spec.name,
            where=self.where,
        )

    def _start(self, spec: MethodSpec, args: msgspec.Struct, meta: dict[str, str],
               timeout: float | None, traceparent: str) -> int:
        key = (spec.component, spec.name)
        if key in self._checked:
            problem = self._checked[key]
        else:
            callee = self.interfaces.get(spec.component)
            problem = self._checked[key] = incompatibility(spec, callee)
        if problem is not None:
            raise InterfaceMismatch(problem, component=spec.component, method=spec.name,
                                    where=self.where)
        if not self.is_open:
            raise Unavailable("connection is closed", component=spec.component,
                              method=spec.name, where=self.where)
        call_id = self._next_id
        self._next_id += 1
        request = Request(call_id, spec.component, spec.name, args,  # type: ignore[arg-type]
                          timeout, traceparent, self.caller, meta)
        try:
            frame = self.encode(request)
        except ValueError as exc:
            raise MessageTooLarge(
                f"arguments encode to {exc.args[0]} bytes, above the "
                f"{self.max_message_bytes}-byte message limit",
                component=spec.component, method=spec.name,
            ) from None
        except TypeError as exc:
            raise InvalidArgument(str(exc), component=spec.component, method=spec.name) from None
        self.send_frame(frame)
        return call_id

    async def call(self, spec: MethodSpec, args: msgspec.Struct, meta: dict[str, str],
                   timeout: float | None, traceparent: str) -> Any:
        """Make one unary call and return its decoded result."""
        future: asyncio.Future[Message] = self._loop.create_future()
        call_id = self._start(spec, args, meta, timeout, traceparent)
        self._pending[call_id] = (future, spec)
        # A plain timer that fails the future is far cheaper than an asyncio.timeout
        # scope (no task cancellation bookkeeping); every call with a deadline has one.
        timer = None if timeout is None else self._loop.call_later(
            timeout, self._expire, call_id, timeout)
        try:
            reply = await future
        except asyncio.CancelledError:
            # Cancelling the task cancels the future too: only a real reply means "done".
            if (future.cancelled() or not future.done()) and self.is_open:
                self.send(Cancel(call_id))
            raise
        finally:
            if timer is not None:
                timer.cancel()
            del self._pending[call_id]
        if type(reply) is Reply:
            return _decode(spec.result_decoder, reply.result, spec, self.where)
        assert isinstance(reply, Failure)
        raise failure_to_error(reply)

    def _expire(self, call_id: int, timeout: float) -> None:
        """A call's deadline passed: fail it here and tell the callee to stop."""
        entry = self._pending.get(call_id)
        if entry is None or entry[0].done():
            return
        future, spec = entry
        future.set_exception(DeadlineExceeded(f"no result within {timeout:.3g}s",
                                              component=spec.component, method=spec.name,
                                              where=self.where))
        if self.is_open:
            self.send(Cancel(call_id))

    async def stream(self, spec: MethodSpec, args: msgspec.Struct, meta: dict[str, str],
                     timeout: float | None, traceparent: str) -> AsyncGenerator[Any, None]:
        """Make one streaming call; items arrive with credit-based backpressure."""
        stream = _Stream()
        call_id = self._start(spec, args, meta, timeout, traceparent)
        self._streams[call_id] = (stream, spec)
        finished = False
        unacknowledged = 0
        # The deadline bounds each wait for an item, never the consumer's own work
        # between items: a timeout scope must not span a ``yield``.
        until = None if timeout is None else asyncio.get_running_loop().time() + timeout
        try:
            while True:
                try:
                    async with asyncio.timeout_at(until):
                        message = await stream.pop()
                except TimeoutError:
                    raise DeadlineExceeded(f"stream not finished within {timeout:.3g}s",
                                           component=spec.component, method=spec.name,
                                           where=self.where) from None
                if type(message) is Item:
                    unacknowledged += 1
                    if unacknowledged >= _CREDIT_BATCH:
                        self.send(Credit(call_id, unacknowledged))
                        unacknowledged = 0
                    yield _decode(spec.result_decoder, message.item, spec, self.where)
                    continue
                finished = True
                if type(message) is End:
                    return
                if isinstance(message, Failure):
                    raise failure_to_error(message)
                assert isinstance(message, BaseException)
                raise message
        finally:
            del self._streams[call_id]
            if not finished and self.is_open:
                self.send(Cancel(call_id))


def _decode(decoder: msgspec.msgpack.Decoder[Any], raw: msgspec.Raw, spec: MethodSpec,
            where: str) -> Any:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"{spec.qualname} at {where} returned a malformed result: {exc}") \
            from None


def failure_to_error(failure: Failure) -> CallError:
    """The exception a caller raises for a ``Failure`` message."""
    if failure.kind == "ComponentError":
        return component_error(failure.remote_type, failure.message, component=failure.component,
                               method=failure.method, where=failure.where)
    cls = CALL_ERRORS.get(failure.kind, CallError)
    return cls(failure.message, component=failure.component, method=failure.method,
               where=failure.where)
