"""The components ``bench/gateway.py`` measures; worker processes import this module.

``POST /work {"text": ...}`` enters the ``Gateway`` component, which calls
``A.handle``, which calls ``B.transform``: two internal hops under
``microservices``, two direct calls under ``monolith``.  The work is the floor's
(``_http_floor.work``), trivial on purpose, so what is measured is the path.
The gateway is built as the reference app's is: an ``Api`` (body validation,
keys, limits, metrics), served by ``HttpServer`` inside the component's process.
"""

from __future__ import annotations

import msgspec
from _http_floor import WorkRequest, WorkResponse, transform

from genweave import App, Ref, component
from genweave.gateway.api import Api, ApiCall
from genweave.gateway.auth import KeyRing
from genweave.gateway.server import HttpServer


@component
class B:
    async def transform(self, text: str) -> str:
        return transform(text)


@component
class A:
    b: Ref[B]

    async def handle(self, text: str) -> WorkResponse:
        return WorkResponse(text=await self.b.transform(text), chars=len(text))


class GatewaySettings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 0
    """Port 0: the kernel picks a free one; the bench asks ``url()`` for it."""


@component(config=GatewaySettings)
class Gateway:
    """``POST /work``, with no API keys configured (an open gateway, as in development)."""

    config: GatewaySettings
    a: Ref[A]

    async def on_start(self) -> None:
        api = Api("gateway bench", keys=KeyRing([]))
        api.post("/work", body=WorkRequest, response=WorkResponse)(self._work)
        self._server = HttpServer(api.asgi(), self.config.host, self.config.port)
        await self._server.start()

    async def on_stop(self) -> None:
        await self._server.stop()

    async def url(self) -> str:
        """Where this replica listens (the port was 0)."""
        return self._server.url

    async def _work(self, call: ApiCall, body: WorkRequest) -> WorkResponse:
        return await self.a.handle(body.text)


app = App("gateway-bench", [Gateway])
