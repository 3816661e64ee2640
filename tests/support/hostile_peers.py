"""Hostile peers of a replica's socket, run as their own process so they do not slow the
well-behaved caller's event loop: ``python hostile_peers.py unix:PATH APP SECONDS``.

For SECONDS it keeps up, all at once: connections sending garbage, connections
declaring a 4 GiB frame, half-open connections (a partial header, then
silence), slow connections (a Hello one byte per 100 ms), a flood of connections
opened and closed, and one connection that opens streams and never reads them.
Then it prints what it did as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Final

import msgspec

from genweave.codec import encoder
from genweave.transport.messages import HEADER, PROTOCOL_VERSION, Hello, Request

HALF_OPEN: Final = 200
SLOW: Final = 50
STREAMS: Final = 500


def frame(message: Hello | Request) -> bytes:
    payload = encoder.encode(message)
    return len(payload).to_bytes(HEADER, "big") + payload


class Attack:
    def __init__(self, path: str, app: str, until: float) -> None:
        self.path, self.app, self.until = path, app, until
        self.done = {"garbage": 0, "huge": 0, "flood": 0, "half_open": 0, "slow": 0,
                     "streams": 0}
        self.held: list[asyncio.StreamWriter] = []

    def running(self) -> bool:
        return asyncio.get_running_loop().time() < self.until

    async def once(self, kind: str, data: bytes) -> None:
        while self.running():
            try:
                _reader, writer = await asyncio.open_unix_connection(self.path)
                writer.write(data)
                await writer.drain()
                writer.close()
                self.done[kind] += 1
            except OSError:
                pass
            await asyncio.sleep(0.005)

    async def half_open(self) -> None:
        for _ in range(HALF_OPEN):
            _, writer = await asyncio.open_unix_connection(self.path)
            writer.write(b"\x00\x00")
            self.held.append(writer)
            self.done["half_open"] += 1

    async def slow(self) -> None:
        hello = frame(Hello(PROTOCOL_VERSION, self.app, "front/0"))

        async def drip() -> None:
            _, writer = await asyncio.open_unix_connection(self.path)
            self.held.append(writer)
            self.done["slow"] += 1
            for i in range(len(hello)):
                if not self.running():
                    return
                writer.write(hello[i:i + 1])
                await asyncio.sleep(0.1)

        await asyncio.gather(*(drip() for _ in range(SLOW)))

    async def streams(self, args: bytes) -> None:
        _, writer = await asyncio.open_unix_connection(self.path)
        self.held.append(writer)
        writer.write(frame(Hello(PROTOCOL_VERSION, self.app, "client")))
        for call_id in range(1, STREAMS + 1):
            writer.write(frame(Request(call_id, "Model", "count", msgspec.Raw(args))))
            self.done["streams"] += 1
        await writer.drain()  # and never read a single item

    async def run(self) -> None:
        count_args = encoder.encode([10**9])
        await asyncio.gather(
            self.once("garbage", os.urandom(64)),
            self.once("huge", b"\xff\xff\xff\xff"),
            self.once("flood", b""),
            self.half_open(), self.slow(), self.streams(count_args))
        while self.running():
            await asyncio.sleep(0.05)
        for writer in self.held:
            writer.close()


async def main(address: str, app: str, seconds: float) -> None:
    attack = Attack(address.removeprefix("unix:"), app,
                    asyncio.get_running_loop().time() + seconds)
    await attack.run()
    print(json.dumps(attack.done), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
