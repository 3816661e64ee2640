"""The callee's side of a replica: each request runs as a call of a component method.

The transport hands every decoded request here.  A request that is admitted
(see ``genweave.runtime.admission``) runs in its own task with what travelled
with it installed: the calling component and its metadata, its deadline (so
nested calls inherit it) and its trace parent.  Each call is counted in its
method's metrics, the same ones a direct call through a Ref counts in a monolith.

A callee told the app's grants (``enforce``) takes ``Component.method`` only
from callers the Ref graph allows (``genweave.runtime.authorization``): one set
lookup per call.  Every callee refuses a Unix-socket peer that runs as another
user, and a certificate that contradicts the caller's handshake.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from genweave import context
from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES, describe_validation_error
from genweave.component import ComponentSpec, MethodSpec
from genweave.errors import CallError, InvalidArgument, NotFound, PermissionDenied
from genweave.observe.metrics import REGISTRY, MethodStats
from genweave.observe.tracecontext import current_traceparent, is_traceparent
from genweave.runtime.admission import DRAIN_QUIET, UNLIMITED, Admission
from genweave.runtime.authorization import Grant, callee_grants, proven_identity
from genweave.transport.compat import interface_info
from genweave.transport.logs import RateLimitedLog
from genweave.transport.messages import PROTOCOL_VERSION, Hello, Request, Welcome
from genweave.transport.peer import Peer
from genweave.transport.server import RequestDispatcher, ServerConnection

__all__ = ["Callee"]

logger = logging.getLogger("genweave.callee")
refusals = RateLimitedLog(logger)
"""Refused connections and calls, each with the caller's identity, at a bounded rate."""

_Handler = tuple[Callable[..., Any], MethodSpec, MethodStats]
_values = msgspec.structs.astuple
_BARE: Final = contextvars.Context()
"""Where a ticket's done-callback runs: it reads no context variable, and a context
given spares asyncio copying the current one for every call."""


class Callee(RequestDispatcher):
    """Serves the components of one replica to every connection it accepts.

    Example::

        callee = Callee("app", "model/0", {"Model": (Model(), spec_of(Model))},
                        max_in_flight=64)
        server, address = await listen("tcp:127.0.0.1:0", callee)
        ...
        await callee.drain(grace=10.0)  # refuse new calls, finish those in flight
    """

    def __init__(self, app: str, where: str,
                 components: Mapping[str, tuple[object, ComponentSpec]],
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_in_flight: int = UNLIMITED) -> None:
        super().__init__(Welcome(PROTOCOL_VERSION, app, where, {
            name: interface_info(spec) for name, (_, spec) in components.items()
        }), max_message_bytes)
        self.admission = Admission(where, max_in_flight)
        self.app = app
        self.owner_uid = os.getuid()
        """The only user whose processes may connect over a Unix socket."""
        self.grants: frozenset[Grant] | None = None
        """(caller identity, component) pairs taken; ``None``: every admitted caller's calls."""
        self.denied = 0
        """Connections and calls refused by authorization."""
        self._handlers: dict[tuple[str, str], _Handler] = {
            (name, m.name): (getattr(instance, m.name), m, REGISTRY.method(name, m.name))
            for name, (instance, spec) in components.items()
            for m in spec.methods.values()
        }

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return self.admission.in_flight

    async def drain(self, grace: float, quiet: float = DRAIN_QUIET) -> bool:
        """Stop taking calls and wait for those in flight (see ``Admission.drain``)."""
        return await self.admission.drain(grace, quiet)

    def enforce(self, grants: frozenset[Grant]) -> None:
        """Take calls only as ``grants`` (``authorization.granted_calls``) allow them."""
        self.grants = callee_grants(grants, tuple(self.welcome.interfaces))

    def admit(self, hello: Hello, peer: Peer) -> str:
        try:
            return proven_identity(self.app, hello.caller, peer, self.owner_uid)
        except PermissionDenied as refusal:
            self.denied += 1
            refusals.warning("%s refused a connection from %s ('%s'): %s", self.where,
                             peer.address, hello.caller, refusal.message)
            raise

    def dispatch(self, request: Request,
                 connection: ServerConnection) -> asyncio.Task[None] | None:
        grants = self.grants
        if grants is not None and (connection.identity, request.component) not in grants:
            connection.fail(request, self._denied(request, connection))
            return None
        admission = self.admission
        refusal = admission.refusal(request.component, request.method)
        if refusal is not None:
            connection.fail(request, refusal)
            return None
        handler = self._handlers.get((request.component, request.method))
        if handler is None:
            connection.fail(request, self._not_found(request))
            return None
        ticket = _Ticket(admission)
        task = asyncio.get_running_loop().create_task(
            self._serve(request, handler, connection, ticket))
        task.add_done_callback(ticket, context=_BARE)
        return task

    def _denied(self, request: Request, connection: ServerConnection) -> PermissionDenied:
        self.denied += 1
        handler = self._handlers.get((request.component, request.method))
        if handler is not None:
            handler[2].record(0.0, False)
        who = connection.identity
        refusals.warning("%s refused %s.%s to %s ('%s' from %s)", self.where, request.component,
                         request.method, who, request.caller, connection.peer.address)
        if who is None:
            return PermissionDenied("the caller sent a call before its handshake (Hello)",
                                    component=request.component, method=request.method,
                                    where=self.where)
        return PermissionDenied(
            f"caller '{who}' may not call it: no component of its group declares a Ref to "
            f"'{request.component}' (the app's Ref graph grants each group only the calls "
            "its components declare)", component=request.component, method=request.method,
            where=self.where)

    def _not_found(self, request: Request) -> NotFound:
        known = request.component in self.welcome.interfaces
        return NotFound("no such method" if known else f"component is not served at {self.where}",
                        component=request.component, method=request.method, where=self.where)

    async def _serve(self, request: Request, handler: _Handler, connection: ServerConnection,
                     ticket: _Ticket) -> None:
        fn, spec, stats = handler
        stats.in_flight += 1
        start = time.perf_counter()
        ok = False
        try:
            # The deadline is enforced by the caller, which sends Cancel when it passes
            # (and a lost connection cancels too); here it only travels on, to nested calls.
            args = self._arguments(request, spec)
            if spec.stream:
                await connection.stream(request, fn(*_values(args)))
            else:
                connection.reply(request, await fn(*_values(args)))
            ok = True
        except Exception as exc:
            if not isinstance(exc, CallError):
                logger.exception("%s.%s raised", request.component, request.method, exc_info=exc)
            connection.fail(request, exc)
        finally:
            stats.in_flight -= 1
            stats.record(time.perf_counter() - start, ok)
            ticket.release()

    def _arguments(self, request: Request, spec: MethodSpec) -> Any:
        """Decode the arguments and install the call's context; raises ``InvalidArgument``."""
        try:
            args = spec.args_decoder.decode(request.args)
        except msgspec.ValidationError as exc:
            raise InvalidArgument(describe_validation_error(str(exc)), component=spec.component,
                                  method=spec.name, where=self.where) from None
        if request.traceparent and is_traceparent(request.traceparent):
            current_traceparent.set(request.traceparent)
        context.set_incoming(request.caller, request.meta)
        if request.timeout is not None:
            context.current_deadline.set(asyncio.get_running_loop().time() + request.timeout)
        return args


class _Ticket:
    """One call's place in the replica's count of calls in flight, given back once.

    Given back as the call's task ends, not from its done-callback: uvloop runs
    callbacks after the next socket read, and a request read then would be
    checked against calls that have already finished.  The done-callback only
    matters for a task cancelled before it ran.
    """

    __slots__ = ("_admission",)

    def __init__(self, admission: Admission) -> None:
        self._admission: Admission | None = admission
        admission.enter()

    def release(self) -> None:
        if self._admission is not None:
            self._admission.leave()
            self._admission = None

    def __call__(self, _: object) -> None:
        self.release()
