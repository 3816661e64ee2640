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
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from genweave.errors import DeadlineExceeded

__all__ = ["call_metadata", "current_deadline", "deadline", "remaining", "with_metadata"]

current_deadline: ContextVar[float | None] = ContextVar("genweave_deadline", default=None)
"""Absolute deadline of the current call, on the event loop's clock."""

_NONE: dict[str, str] = {}
_metadata: ContextVar[dict[str, str]] = ContextVar("genweave_metadata", default=_NONE)
_caller: ContextVar[str] = ContextVar("genweave_caller", default="")


def remaining() -> float | None:
    """Seconds left before the current deadline, or ``None`` when there is none."""
    at = current_deadline.get()
    return None if at is None else at - asyncio.get_running_loop().time()


@asynccontextmanager
async def deadline(seconds: float) -> AsyncIterator[None]:
    """Bound everything inside, local work and remote calls alike, to ``seconds``.

    Nested deadlines never extend an outer one.  Expiry raises ``DeadlineExceeded``.
    """
    loop = asyncio.get_running_loop()
    at = loop.time() + seconds
    outer = current_deadline.get()
    if outer is not None:
        at = min(at, outer)
    token = current_deadline.set(at)
    try:
        async with asyncio.timeout_at(at):
            yield
    except TimeoutError as exc:
        if isinstance(exc, DeadlineExceeded):
            raise
        raise DeadlineExceeded(f"deadline of {seconds:g}s exceeded") from None
    finally:
        current_deadline.reset(token)


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
