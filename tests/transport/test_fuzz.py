"""Fuzzing the frame decoder and the handshake: no input makes them raise or hang.

Hypothesis feeds arbitrary bytes, cut into arbitrary chunks, to the framing a
callee uses, and arbitrary handshakes to a callee that enforces the Ref graph.
Whatever arrives, the connection either yields well-formed messages or closes;
a handshake is answered by a ``Welcome`` or a refusal (``Failure`` id 0), never
by an exception escaping into the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from genweave import component
from genweave.codec import encoder
from genweave.component import spec_of
from genweave.runtime.authorization import identity_of
from genweave.runtime.callee import Callee
from genweave.transport.framing import FramedProtocol
from genweave.transport.messages import HEADER, Failure, Hello, Message, Welcome, message_decoder
from genweave.transport.server import ServerConnection

LIMIT = 1 << 16


class _Wire:
    """A transport that keeps what is written and whether it was closed."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _Collect(FramedProtocol):
    def __init__(self) -> None:
        super().__init__(LIMIT)
        self.messages: list[Message] = []

    def message_received(self, message: Message) -> None:
        self.messages.append(message)


def frame(message: Message) -> bytes:
    payload = encoder.encode(message)
    return len(payload).to_bytes(HEADER, "big") + payload


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


garbage = st.binary(max_size=512)
valid = st.builds(Hello, st.integers(0, 3), st.text(max_size=20), st.text(max_size=20)).map(frame)
huge_length = st.integers(LIMIT + 1, 2**32 - 1).map(lambda n: n.to_bytes(HEADER, "big"))
streams = st.lists(st.one_of(garbage, valid, huge_length), max_size=8).map(b"".join)


@settings(max_examples=300, deadline=None, database=None)
@given(streams, st.lists(st.integers(0, 4096), max_size=12))
def test_any_bytes_in_any_chunks_yield_messages_or_a_closed_connection(
        data: bytes, cuts: list[int]) -> None:
    async def feed() -> None:
        protocol, wire = _Collect(), _Wire()
        protocol.connection_made(wire)  # type: ignore[arg-type]
        for chunk in chunked(data, cuts):
            if wire.closed:
                break
            protocol.data_received(chunk)
        assert all(type(m) in Message.__args__ for m in protocol.messages)  # type: ignore[attr-defined]
        assert wire.closed or len(protocol._buffer) <= LIMIT + HEADER

    asyncio.run(feed())


@component(name="Fuzzed")
class Fuzzed:
    async def ping(self) -> str:
        return "pong"


@settings(max_examples=300, deadline=None, database=None)
@given(st.integers(-2**31, 2**31), st.text(max_size=30), st.text(max_size=30))
def test_any_handshake_is_welcomed_or_refused(protocol: int, app: str, caller: str) -> None:
    async def handshake() -> Message:
        callee = Callee("fuzz", "fuzzed/0", {"Fuzzed": (Fuzzed(), spec_of(Fuzzed))})
        callee.enforce(frozenset({("caller", "Fuzzed")}))
        connection, wire = ServerConnection(callee), _Wire()
        connection.connection_made(wire)  # type: ignore[arg-type]
        connection.data_received(frame(Hello(protocol, app, caller)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        length = int.from_bytes(wire.written[:HEADER], "big")
        answer: Message = message_decoder.decode(bytes(wire.written[HEADER:HEADER + length]))
        if type(answer) is Welcome:
            assert connection.identity == identity_of(caller)
        return answer

    answer = asyncio.run(handshake())
    assert type(answer) is Welcome or (type(answer) is Failure and answer.id == 0)
