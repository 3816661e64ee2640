"""W3C traceparent parsing and propagation."""

from __future__ import annotations

import pytest

from genweave.observe.tracecontext import (
    TraceContext,
    current_trace,
    current_traceparent,
    outgoing_traceparent,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_parse_and_render_round_trip() -> None:
    ctx = TraceContext.parse(VALID)
    assert ctx is not None and ctx.traceparent == VALID


@pytest.mark.parametrize("header", [
    "",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
    "00-short-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-zzzzzzzzzzzzzzzz-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "garbage",
])
def test_malformed_headers_are_ignored(header: str) -> None:
    assert TraceContext.parse(header) is None


def test_outgoing_calls_are_children_of_the_current_span() -> None:
    parent = TraceContext.parse(VALID)
    token = current_traceparent.set(VALID)
    try:
        assert current_trace() == parent
        child = TraceContext.parse(outgoing_traceparent())
    finally:
        current_traceparent.reset(token)
    assert child is not None and parent is not None
    assert child.trace_id == parent.trace_id and child.span_id != parent.span_id
    root = TraceContext.parse(outgoing_traceparent())
    assert root is not None and root.trace_id != parent.trace_id
