"""W3C trace context (``traceparent``) carried in every RPC envelope.

genweave keeps the current trace in a context variable so that a call chain
crossing any number of processes stays one trace.  Exporting spans is the job
of an OpenTelemetry SDK; this module only guarantees the ids travel.

Example::

    ctx = TraceContext.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    child = ctx.child()         # same trace id, new span id
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

__all__ = ["TraceContext", "current_trace", "outgoing_traceparent"]

_VERSION: Final = "00"
_SAMPLED: Final = "01"

_random = random.Random()


def _new_id(bits: int) -> str:
    # Not a security boundary, only unique ids: a seeded PRNG is much faster than urandom.
    return f"{_random.getrandbits(bits):0{bits // 4}x}"


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A trace id and the id of the span that is current in this process."""

    trace_id: str
    span_id: str
    flags: str = _SAMPLED

    @classmethod
    def new(cls) -> TraceContext:
        return cls(_new_id(128), _new_id(64))

    @classmethod
    def parse(cls, header: str) -> TraceContext | None:
        """Parse a ``traceparent`` header; ``None`` when it is malformed."""
        parts = header.split("-")
        if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
            return None
        try:
            int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
        except ValueError:
            return None
        return cls(parts[1], parts[2], parts[3])

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, _new_id(64), self.flags)

    @property
    def traceparent(self) -> str:
        return f"{_VERSION}-{self.trace_id}-{self.span_id}-{self.flags}"


current_trace: ContextVar[TraceContext | None] = ContextVar("genweave_trace", default=None)
"""The trace of the call being served, if any."""


def outgoing_traceparent() -> str:
    """The ``traceparent`` for a call made now: a child span of the current trace."""
    parent = current_trace.get()
    return (parent.child() if parent is not None else TraceContext.new()).traceparent
