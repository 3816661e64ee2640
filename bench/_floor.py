"""The floor every transport bench is compared against: a raw msgpack echo.

A length-prefixed (4-byte big-endian) msgpack echo over asyncio streams, on
uvloop, between two processes, with nothing else: no envelope, no ids, no
tasks per call.  That is as fast as an RPC layer written on asyncio streams can
go on this machine, so genweave's cost is reported as a ratio to it, measured
in the same run (machines and neighbours vary too much for absolute goals).

The server runs as ``python bench/_floor.py unix:/path | tcp:HOST:0``; it
prints its bound address once listening and exits when its stdin closes, so it
never outlives the bench that started it, even one that crashed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
from _common import Run, run_on_uvloop

__all__ = ["FloorClient", "floor_server"]

HEADER: Final = 4
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


def _frame(obj: Any) -> bytes:
    body = _encode(obj)
    return len(body).to_bytes(HEADER, "big") + body


async def _read(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(HEADER)
    return _decode(await reader.readexactly(int.from_bytes(header, "big")))


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            writer.write(_frame(await _read(reader)))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the bench closed its connection
    except asyncio.CancelledError:
        pass  # shutting down: asyncio would log a cancelled handler as an error
    finally:
        writer.close()


async def _serve(address: str) -> None:
    scheme, _, rest = address.partition(":")
    if scheme == "unix":
        server = await asyncio.start_unix_server(_echo, rest)
        bound = address
    else:
        host, _, port = rest.rpartition(":")
        server = await asyncio.start_server(_echo, host, int(port))
        bound = f"tcp:{host}:{server.sockets[0].getsockname()[1]}"
    print(bound, flush=True)
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.read()  # EOF: the bench is done or gone
    server.close()


@contextlib.asynccontextmanager
async def floor_server(address: str, prefix: Sequence[str] = ()) -> AsyncIterator[str]:
    """Run the echo server in a child process; yield the address it is bound to.

    ``prefix`` runs it elsewhere, e.g. ``["ip", "netns", "exec", "NS"]`` on another host.
    """
    process = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, str(Path(__file__).resolve()), address,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            raise RuntimeError(f"floor server for {address} exited before listening")
        yield line.decode().strip()
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


class FloorClient:
    """One connection to a floor server.

    ``call`` is one round trip (the sequential case, timed by the shared
    harness); ``pipelined`` keeps a window of frames outstanding and reads the
    replies in order, which needs no ids since the server answers in FIFO order.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: str) -> FloorClient:
        scheme, _, rest = address.partition(":")
        if scheme == "unix":
            reader, writer = await asyncio.open_unix_connection(rest)
        else:
            host, _, port = rest.rpartition(":")
            reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def call(self, payload: Any) -> Any:
        self.writer.write(_frame(payload))
        return await _read(self.reader)

    async def pipelined(self, payload: Any, n: int, window: int) -> Run:
        clock = time.perf_counter_ns
        write, reader = self.writer.write, self.reader
        sent_at: collections.deque[int] = collections.deque()
        latencies: list[int] = []
        start = clock()
        for _ in range(min(window, n)):
            write(_frame(payload))
            sent_at.append(clock())
        sent = len(sent_at)
        for _ in range(n):
            await _read(reader)
            latencies.append(clock() - sent_at.popleft())
            if sent < n:
                write(_frame(payload))
                sent_at.append(clock())
                sent += 1
        return Run(latencies, clock() - start)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


if __name__ == "__main__":
    run_on_uvloop(_serve(sys.argv[1]))
