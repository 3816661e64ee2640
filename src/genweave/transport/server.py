"""The callee's side of a connection: requests in, replies, stream items and failures out.

The transport only moves messages.  Each decoded ``Request`` goes to the
``RequestDispatcher`` the runtime supplies, which decides whether to take the call and
runs it (with its context, deadline, trace and metrics); the dispatcher answers
through the connection's ``reply``, ``stream`` and ``fail``.

Before any call, the caller's ``Hello`` and what the transport proved about the
peer (``Peer``: its uid over a Unix socket, its certificate over TLS) go to the
dispatcher's ``admit``, which returns the identity the connection's calls are
checked against, or refuses the connection with a ``CallError`` the caller
receives as a ``Failure`` with id 0 before the connection closes.
"""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import AsyncGenerator
from typing import Any

from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.errors import CallError, MessageTooLarge, error_kind, qualified_name
from genweave.transport.framing import FramedProtocol
from genweave.transport.messages import (
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
from genweave.transport.peer import Peer, peer_of

__all__ = ["RequestDispatcher", "ServerConnection"]


class RequestDispatcher(abc.ABC):
    """What a replica's connections hand every request to; the runtime subclasses it.

    ``welcome`` is what the replica announces in the handshake.  ``dispatch``
    either answers at once (a refusal: return ``None``) or starts a task that
    answers through the connection; the connection cancels that task when the
    caller sends ``Cancel`` or goes away.

    Example::

        class Echo(RequestDispatcher):
            def dispatch(self, request, connection):
                connection.reply(request, request.args)
                return None
    """

    def __init__(self, welcome: Welcome,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.welcome = welcome
        self.where = welcome.where
        self.max_message_bytes = max_message_bytes

    def admit(self, hello: Hello, peer: Peer) -> str:
        """The identity of a caller that said ``hello`` from ``peer``; raise a ``CallError``
        to refuse it.  This one trusts everyone and names no one."""
        return ""

    @abc.abstractmethod
    def dispatch(self, request: Request,
                 connection: ServerConnection) -> asyncio.Task[Any] | None:
        """Take ``request``: answer it now and return ``None``, or return the task answering it."""


class ServerConnection(FramedProtocol):
    """One caller's connection: requests go to the dispatcher, cancellable by the caller."""

    def __init__(self, dispatcher: RequestDispatcher) -> None:
        super().__init__(dispatcher.max_message_bytes)
        self.dispatcher = dispatcher
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._credits: dict[int, _Credit] = {}
        self.peer = Peer("?")
        self.identity: str | None = None
        """Who the dispatcher admitted this caller as; ``None`` until its ``Hello``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.peer = peer_of(transport)

    def message_received(self, message: Message) -> None:
        if type(message) is Request:
            task = self.dispatcher.dispatch(message, self)
            if task is not None:
                self._tasks[message.id] = task
                task.add_done_callback(functools.partial(self._forget, message.id))
        elif type(message) is Cancel:
            task = self._tasks.get(message.id)
            if task is not None:
                task.cancel()
        elif type(message) is Credit:
            credit = self._credits.get(message.id)
            if credit is not None:
                credit.grant(message.n)
        elif type(message) is Hello:
            self._admit(message)

    def _admit(self, hello: Hello) -> None:
        try:
            self.identity = self.dispatcher.admit(hello, self.peer)
        except CallError as refusal:
            self.send(Failure(0, error_kind(refusal), refusal.message, refusal.component,
                              refusal.method, self.dispatcher.where))
            self.close_after_flush()
            return
        self.send(self.dispatcher.welcome)

    def _forget(self, call_id: int, _: object) -> None:
        self._tasks.pop(call_id, None)
        self._credits.pop(call_id, None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for task in list(self._tasks.values()):
            task.cancel()

    def reply(self, request: Request, result: Any) -> None:
        """Send the result of a unary call; ``MessageTooLarge`` when it is above the limit."""
        self.send_frame(self._encode_result(Reply(request.id, result), request))

    async def stream(self, request: Request, items: AsyncGenerator[Any, None]) -> None:
        """Send each item as the caller grants credit, then ``End``; closes ``items``."""
        credit = self._credits[request.id] = _Credit(STREAM_WINDOW)
        try:
            async for item in items:
                await credit.take()
                await self.drain()
                self.send_frame(self._encode_result(Item(request.id, item), request))
        finally:
            await items.aclose()
        self.send(End(request.id))

    def fail(self, request: Request, error: BaseException) -> None:
        """Send ``error`` as the call's ``Failure``: a ``CallError`` as itself, anything
        else as a ``ComponentError`` carrying its class name."""
        self.send(_failure(request, error, self.dispatcher.where))

    def _encode_result(self, message: Reply | Item, request: Request) -> bytes:
        try:
            return self.encode(message)
        except ValueError as exc:
            raise MessageTooLarge(
                f"result encodes to {exc.args[0]} bytes, above the "
                f"{self.max_message_bytes}-byte message limit",
                component=request.component, method=request.method,
                where=self.dispatcher.where,
            ) from None


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


def _failure(request: Request, error: BaseException, where: str) -> Failure:
    if isinstance(error, CallError):
        return Failure(request.id, error_kind(error), error.message, error.component,
                       error.method, error.where or where, getattr(error, "remote_type", ""))
    return Failure(request.id, "ComponentError", str(error), request.component, request.method,
                   where, qualified_name(type(error)))
