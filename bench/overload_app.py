"""The components ``bench/overload.py`` measures; worker processes import this module.

``POST /work {"text": ...}`` enters the ``Gateway`` component (an ``Api`` served
by ``HttpServer``, as in the reference app), which calls ``Worker.run``.
``Worker`` burns ``cost_ms`` of CPU per call, like a model would, so one replica
has a real capacity: about ``1000 / cost_ms`` calls per second on its core.
Under ``microservices`` each is a process of its own, so the gateway and the
worker do not share a core's time.  The gateway's limit on requests in flight
and its limits on clients are settings, so one module serves the bounded and the
unbounded deployments.  ``POST /stream {"events": N, "size": S}`` answers N
server-sent events of S bytes from the gateway itself: what the bench's slow
readers ask for and never read.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import msgspec

from genweave import App, Ref, component
from genweave.gateway.api import DEFAULT_MAX_CONCURRENT, Api, ApiCall, sse
from genweave.gateway.auth import KeyRing
from genweave.gateway.limits import HttpLimits
from genweave.gateway.server import HttpServer

MS_PER_S = 1_000


class WorkRequest(msgspec.Struct):
    text: str


class WorkResponse(msgspec.Struct):
    text: str


class StreamRequest(msgspec.Struct):
    events: int
    size: int


class WorkerSettings(msgspec.Struct, frozen=True):
    cost_ms: float = 2.0
    """CPU time each call spends."""


@component(role="inference", config=WorkerSettings)
class Worker:
    config: WorkerSettings

    async def run(self, text: str) -> str:
        until = time.perf_counter() + self.config.cost_ms / MS_PER_S
        while time.perf_counter() < until:  # busy on purpose: a model holds its core
            pass
        return text


class GatewaySettings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 0
    """Port 0: the kernel picks a free one; the bench asks ``url()`` for it."""
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    """Requests handled at once; more are answered 503 at once."""
    limits: HttpLimits = msgspec.field(default_factory=HttpLimits)


@component(config=GatewaySettings)
class Gateway:
    """``POST /work``, with no API keys configured (an open gateway, as in development)."""

    config: GatewaySettings
    worker: Ref[Worker]

    async def on_start(self) -> None:
        api = Api("overload bench", keys=KeyRing([]), max_concurrent=self.config.max_concurrent,
                  limits=self.config.limits)
        api.post("/work", body=WorkRequest, response=WorkResponse)(self._work)
        api.post("/stream", body=StreamRequest, stream=WorkResponse)(self._stream)
        self._server = HttpServer(api.asgi(), self.config.host, self.config.port,
                                  limits=self.config.limits)
        await self._server.start()

    async def on_stop(self) -> None:
        await self._server.stop()

    async def url(self) -> str:
        """Where this replica listens (the port was 0)."""
        return self._server.url

    async def _work(self, call: ApiCall, body: WorkRequest) -> WorkResponse:
        return WorkResponse(text=await self.worker.run(body.text))

    async def _stream(self, call: ApiCall, body: StreamRequest) -> object:
        event = msgspec.json.encode(WorkResponse("x" * body.size))

        async def events() -> AsyncIterator[bytes]:
            for _ in range(body.events):
                yield event

        return await sse(events(), call.timeout)


app = App("overload-bench", [Gateway])
