"""A small app, not the reference app, that serves HTTP through the framework.

``POST /v1/shout`` enters ``Door``, which calls ``Voice.shout`` (one hop under
``microservices``).  ``Door`` adds nothing but the framework's endpoints
(health, readiness, metrics, the live status view) and its console, to show
that any app gets them: no panels of its own, no reference-app code.
"""

from __future__ import annotations

import msgspec

from genweave import App, Ref, component
from genweave.gateway.api import Api, ApiCall
from genweave.gateway.auth import ApiKey, KeyRing
from genweave.gateway.console import Console
from genweave.gateway.ops import Operations
from genweave.gateway.server import HttpServer
from genweave.runtime.introspect import Runtime


class ShoutRequest(msgspec.Struct):
    text: str


class ShoutResponse(msgspec.Struct):
    text: str


class DoorSettings(msgspec.Struct, frozen=True):
    port: int = 0
    api_keys: list[ApiKey] = []


@component
class Voice:
    async def shout(self, text: str) -> str:
        return text.upper()


@component(config=DoorSettings)
class Door:
    config: DoorSettings
    runtime: Runtime
    voice: Ref[Voice]

    async def on_start(self) -> None:
        api = Api("web app", keys=KeyRing(self.config.api_keys))
        api.post("/v1/shout", body=ShoutRequest, response=ShoutResponse)(self._shout)
        Operations(self.runtime).add_to(api)
        Console().add_to(api)
        self._server = HttpServer(api.asgi(), "127.0.0.1", self.config.port)
        await self._server.start()

    async def on_stop(self) -> None:
        await self._server.stop()

    async def url(self) -> str:
        return self._server.url

    async def _shout(self, call: ApiCall, body: ShoutRequest) -> ShoutResponse:
        return ShoutResponse(await self.voice.shout(body.text))


app = App("web", [Door])
