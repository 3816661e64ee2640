"""Length-prefixed framing: any chunking of the byte stream yields the same messages."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from genweave.transport.framing import FramedProtocol
from genweave.transport.messages import Cancel, Credit, End, Message, message_decoder


class Recorder(FramedProtocol):
    def __init__(self, max_message_bytes: int = 1024) -> None:
        super().__init__(max_message_bytes)
        self.messages: list[Message] = []

    def message_received(self, message: Message) -> None:
        self.messages.append(message)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False
        self.written: list[bytes] = []

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def connected(max_message_bytes: int = 1024) -> tuple[Recorder, FakeTransport]:
    protocol, transport = Recorder(max_message_bytes), FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


MESSAGES: list[Message] = [Cancel(1), Credit(2, 32), End(3), Cancel(2**40)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
async def test_any_chunking_yields_the_same_messages(chunk: int) -> None:
    protocol, _ = connected()
    stream = b"".join(protocol.encode(m) for m in MESSAGES)
    for i in range(0, len(stream), chunk):
        protocol.data_received(stream[i : i + chunk])
    assert protocol.messages == MESSAGES


async def test_frames_sent_in_one_loop_turn_go_out_in_one_write() -> None:
    protocol, transport = connected()
    protocol.send(Credit(7, 3))
    protocol.send(End(8))
    assert transport.written == []
    await asyncio.sleep(0)
    (frame,) = transport.written
    receiver, _ = connected()
    receiver.data_received(frame)
    assert receiver.messages == [Credit(7, 3), End(8)]


async def test_send_writes_a_decodable_frame() -> None:
    protocol, transport = connected()
    protocol.send(Credit(7, 3))
    await asyncio.sleep(0)
    (frame,) = transport.written
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert message_decoder.decode(frame[4:]) == Credit(7, 3)


async def test_an_oversized_frame_closes_the_connection() -> None:
    protocol, transport = connected(max_message_bytes=16)
    protocol.data_received((1000).to_bytes(4, "big") + b"x" * 10)
    assert transport.closed and protocol.messages == []


async def test_garbage_closes_the_connection() -> None:
    protocol, transport = connected()
    payload = msgspec.msgpack.encode({"not": "an envelope"})
    protocol.data_received(len(payload).to_bytes(4, "big") + payload)
    assert transport.closed and protocol.messages == []


async def test_encode_refuses_messages_above_the_limit() -> None:
    protocol, _ = connected(max_message_bytes=8)
    with pytest.raises(ValueError):
        protocol.encode(Credit(1, 10**12))
