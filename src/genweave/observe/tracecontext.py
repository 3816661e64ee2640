"""W3C trace context (``traceparent``) carried in every RPC envelope.

genweave keeps the current ``traceparent`` in a context variable so that a call
chain crossing any number of processes stays one trace.  Exporting spans is the
job of an OpenTelemetry SDK; this module only guarantees the ids travel.  The
hot path handles the header as a string: parsing it into a ``TraceContext`` is
left to code that wants to look inside.

Example::

    token = current_traceparent.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    outgoing_traceparent()   # same trace id, a new span id
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

__all__ = [
    "TraceContext",
    "current_trace",
    "current_traceparent",
    "is_traceparent",
    "outgoing_traceparent",
]

_VERSION: Final = "00"
_SAMPLED: Final = "01"
_LENGTH: Final = 55
_HEX: Final = frozenset("0123456789abcdef")

# Not a security boundary, only unique ids: a PRNG is much faster than urandom.
_bits = random.Random().getrandbits


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A trace id and the id of the span that is current in this process."""

    trace_id: str
    span_id: str
    flags: str = _SAMPLED

    @classmethod
    def new(cls) -> TraceContext:
        return cls(f"{_bits(128):032x}", f"{_bits(64):016x}")

    @classmethod
    def parse(cls, header: str) -> TraceContext | None:
        """Parse a ``traceparent`` header; ``None`` when it is malformed."""
        if not is_traceparent(header, strict=True):
            return None
        return cls(header[3:35], header[36:52], header[53:55])

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, f"{_bits(64):016x}", self.flags)

    @property
    def traceparent(self) -> str:
        return f"{_VERSION}-{self.trace_id}-{self.span_id}-{self.flags}"


def is_traceparent(header: str, strict: bool = False) -> bool:
    """Whether ``header`` has the shape of a version-00 ``traceparent``.

    The RPC hot path checks the shape only (it copies substrings, never
    interprets them); ``strict`` also checks that the ids are hexadecimal.
    """
    if len(header) != _LENGTH or header[2] != "-" or header[35] != "-" or header[52] != "-":
        return False
    return not strict or set(header.replace("-", "")) <= _HEX


current_traceparent: ContextVar[str] = ContextVar("genweave_traceparent", default="")
"""The ``traceparent`` of the call being served, or "" outside any trace."""


def current_trace() -> TraceContext | None:
    """The current trace, parsed."""
    header = current_traceparent.get()
    return TraceContext.parse(header) if header else None


def outgoing_traceparent() -> str:
    """The ``traceparent`` for a call made now: a child span of the current trace."""
    parent = current_traceparent.get()
    span = f"{_bits(64):016x}"
    if parent:
        return f"{_VERSION}-{parent[3:35]}-{span}-{parent[53:55]}"
    return f"{_VERSION}-{_bits(128):032x}-{span}-{_SAMPLED}"
