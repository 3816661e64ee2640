"""The gateway that ``test_hostile_clients.py`` attacks, in a process of its own.

A process of its own, so that its memory is measured alone and the attackers'
loop does not share its event loop.  One component, ``Front``, serves an
:class:`~genweave.gateway.api.Api` with the framework's operations endpoints
(the real ``/healthz``, ``/readyz`` and ``/metrics``) and three routes of its
own:

- ``POST /v1/echo {"text": ...}``: the text back;
- ``POST /v1/stream {"events": N, "size": S}``: N server-sent events of S
  bytes, as fast as the client takes them;
- ``GET /v1/streams``: how many streams are open, and how many were closed.

Run::

    python tests/apps/limited_gateway.py '{"limits": {...}, "max_concurrent": 64}'

It prints its URL on one line, then serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator

import msgspec

from genweave import App, component, deploy
from genweave._aio import loop_factory
from genweave.gateway.api import Api, ApiCall, sse
from genweave.gateway.auth import KeyRing
from genweave.gateway.limits import HttpLimits
from genweave.gateway.ops import Operations
from genweave.gateway.server import HttpServer
from genweave.runtime.introspect import Runtime
from genweave.topology import resolve_topology


class FrontSettings(msgspec.Struct, frozen=True):
    limits: HttpLimits = msgspec.field(default_factory=HttpLimits)
    max_concurrent: int = 1024


class Echo(msgspec.Struct):
    text: str


class StreamRequest(msgspec.Struct):
    events: int
    size: int


class StreamCounts(msgspec.Struct):
    open: int
    closed: int


@component(config=FrontSettings)
class Front:
    config: FrontSettings
    runtime: Runtime

    async def on_start(self) -> None:
        self._streams = StreamCounts(0, 0)
        api = Api("limited gateway", keys=KeyRing([]), limits=self.config.limits,
                  max_concurrent=self.config.max_concurrent)
        api.post("/v1/echo", body=Echo, response=Echo)(self._echo)
        api.post("/v1/stream", body=StreamRequest, stream=Echo)(self._stream)
        api.get("/v1/streams", response=StreamCounts)(self._counts)
        Operations(self.runtime).add_to(api)
        self._server = HttpServer(api.asgi(), "127.0.0.1", 0, limits=self.config.limits)
        await self._server.start()

    async def on_stop(self) -> None:
        await self._server.stop()

    async def url(self) -> str:
        return self._server.url

    async def _echo(self, call: ApiCall, body: Echo) -> Echo:
        return body

    async def _stream(self, call: ApiCall, body: StreamRequest) -> object:
        event = msgspec.json.encode(Echo("x" * body.size))

        async def events() -> AsyncIterator[bytes]:
            self._streams.open += 1
            try:
                for _ in range(body.events):
                    yield event
            finally:
                self._streams.open -= 1
                self._streams.closed += 1

        return await sse(events(), call.timeout)

    async def _counts(self, call: ApiCall, body: None) -> StreamCounts:
        return self._streams


app = App("limited", [Front])


async def serve(settings: dict[str, object]) -> None:
    topology = msgspec.structs.replace(resolve_topology("monolith", app),
                                       settings={"Front": settings})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with deploy(app, topology, "inprocess") as running:
        print(await running.get(Front).url(), flush=True)
        await stop.wait()


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(serve(msgspec.json.decode(sys.argv[1])))
