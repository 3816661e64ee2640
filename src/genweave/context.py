"""What travels with a call: its deadline, trace and caller metadata.

These live in context variables, so they follow ``await`` chains and are copied
into tasks; the RPC layer puts them in every envelope and restores them on the
callee's side, so a deadline set at the edge bounds the whole call tree.

Example::

    async with genweave.deadline(2.0):
        answer = await assistant.ask("what is a monad?")
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType, TracebackType

from genweave.errors import DeadlineExceeded

__all__ = [
    "call_metadata",
    "current_deadline",
    "deadline",
    "outgoing_deadline",
    "outgoing_metadata",
    "remaining",
    "set_incoming",
    "with_metadata",
]

current_deadline: ContextVar[float | None] = ContextVar("genweave_deadline", default=None)
"""Absolute deadline of the current call, on the event loop's clock."""

_NONE: dict[str, str] = {}
_metadata: ContextVar[dict[str, str]] = ContextVar("genweave_metadata", default=_NONE)
_caller: ContextVar[str] = ContextVar("genweave_caller", default="")


def remaining() -> float | None:
    """Seconds left before the current deadline, or ``None`` when there is none."""
    at = current_deadline.get()
    return None if at is None else at - asyncio.get_running_loop().time()


def outgoing_deadline(timeout: float | None) -> float | None:
    """The absolute deadline of a call made now with its own ``timeout`` (seconds).

    The sooner of that timeout and the current deadline, which a call never extends;
    ``None`` when neither exists.
    """
    outer = current_deadline.get()
    if timeout is None:
        return outer
    at = asyncio.get_running_loop().time() + timeout
    return at if outer is None or at < outer else outer


class deadline:  # lower case: used like a function, ``async with deadline(2.0):``
    """Bound everything inside, local work and remote calls alike, to ``seconds``.

    Nested deadlines never extend an outer one.  Expiry raises ``DeadlineExceeded``.
    A class rather than ``@asynccontextmanager``: the gateway enters one per
    request, and a generator-based context manager costs several times more.
    """

    __slots__ = ("_scope", "_token", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __aenter__(self) -> None:
        at = asyncio.get_running_loop().time() + self.seconds
        outer = current_deadline.get()
        if outer is not None:
            at = min(at, outer)
        self._token = current_deadline.set(at)
        self._scope = asyncio.timeout_at(at)
        await self._scope.__aenter__()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            await self._scope.__aexit__(exc_type, exc, tb)
        except TimeoutError as error:
            if isinstance(error, DeadlineExceeded):
                raise
            raise DeadlineExceeded(f"deadline of {self.seconds:g}s exceeded") from None
        finally:
            current_deadline.reset(self._token)


def call_metadata() -> Mapping[str, str]:
    """Metadata of the call being served: user-supplied keys and ``caller``, the
    calling component (present when the call arrived over RPC)."""
    caller = _caller.get()
    values = _metadata.get()
    return MappingProxyType({**values, "caller": caller} if caller else values)


def outgoing_metadata() -> dict[str, str]:
    """User metadata to send with a call made now (never mutated: shared, not copied)."""
    return _metadata.get()


@contextmanager
def with_metadata(**values: str) -> Iterator[None]:
    """Attach ``values`` to every call made inside this block, across processes."""
    token = _metadata.set({**_metadata.get(), **values})
    try:
        yield
    finally:
        _metadata.reset(token)


def set_incoming(caller: str, values: dict[str, str]) -> None:
    """Install the caller and metadata received with an RPC (runtime use)."""
    _caller.set(caller)
    if values:
        _metadata.set(values)
