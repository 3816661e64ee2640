"""Length-prefixed framing on top of an asyncio transport.

Built on ``asyncio.Protocol`` rather than ``StreamReader`` because a call's
round trip is dominated by per-read overhead: parsing every complete frame in
one ``data_received`` avoids a future and a task wake-up per read.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any, cast

import msgspec

from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES, encoder
from genweave.errors import ProtocolError
from genweave.transport.logs import RateLimitedLog
from genweave.transport.messages import HEADER, Message, message_decoder

__all__ = ["FramedProtocol"]

logger = logging.getLogger("genweave.transport")
bad_connections = RateLimitedLog(logger)
"""Every connection closed for a malformed frame logs here: a flood logs a few lines."""


class FramedProtocol(asyncio.Protocol, abc.ABC):
    """Turns a byte stream into decoded messages and back, with write backpressure."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._loop = asyncio.get_running_loop()
        self._outbox: list[bytes] | None = None
        self.closed = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._can_write.set()
        if not self.closed.done():
            self.closed.set_result(exc)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        await self._can_write.wait()

    def encode(self, message: Message) -> bytes:
        """Encode a message with its length prefix; ``ValueError`` when too large."""
        payload = encoder.encode(message)
        if len(payload) > self.max_message_bytes:
            raise ValueError(len(payload))
        return len(payload).to_bytes(HEADER, "big") + payload

    def send(self, message: Message) -> None:
        self.send_frame(self.encode(message))

    def send_frame(self, frame: bytes) -> None:
        """Queue a frame; all frames queued in one loop turn go out in one write.

        With many calls in flight this turns dozens of syscalls (and wake-ups of
        the peer) into one, for the cost of writing at the end of the turn.
        """
        if self._outbox is None:
            self._outbox = [frame]
            self._loop.call_soon(self._flush)
        else:
            self._outbox.append(frame)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, None
        transport = self.transport
        if frames and transport is not None and not transport.is_closing():
            transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        if buffer:
            buffer += data
            view: Any = buffer
        else:
            view = data
        pos, size = 0, len(view)
        try:
            while size - pos >= HEADER:
                length = int.from_bytes(view[pos : pos + HEADER], "big")
                if length > self.max_message_bytes:
                    raise ProtocolError(
                        f"incoming message of {length} bytes is above the "
                        f"{self.max_message_bytes}-byte limit"
                    )
                end = pos + HEADER + length
                if end > size:
                    break
                self.message_received(message_decoder.decode(bytes(view[pos + HEADER : end])))
                pos = end
        except (ProtocolError, msgspec.DecodeError) as exc:
            peer = self.transport.get_extra_info("peername") if self.transport else None
            bad_connections.warning("closing connection from %s: %s", peer or "unix", exc)
            self._buffer.clear()
            if self.transport is not None:
                self.transport.close()
            return
        if buffer:
            del buffer[:pos]
        elif pos < size:
            buffer += view[pos:]

    @abc.abstractmethod
    def message_received(self, message: Message) -> None:
        """Handle one decoded message (the caller and callee sides differ here)."""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def close_after_flush(self) -> None:
        """Close once the frames queued in this loop turn are written."""
        self._loop.call_soon(self.close)
