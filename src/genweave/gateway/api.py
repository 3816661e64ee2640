"""Routes with validated bodies, keys, limits, metrics and an OpenAPI document.

Starlette does the HTTP plumbing; this module adds what every endpoint needs
the same way, so handlers only map a validated request to component calls.
Its ASGI app sits behind the layers of :mod:`genweave.gateway.guard` (slow and
hostile clients), configured by the same :class:`~genweave.gateway.limits.HttpLimits`
as the server's; routes declared ``exempt`` (health probes) skip them.

Example::

    api = Api("my app", keys=KeyRing([]))

    @api.post("/v1/echo", body=EchoRequest, response=EchoResponse)
    async def echo(call: ApiCall, body: EchoRequest) -> EchoResponse:
        return EchoResponse(text=body.text)

    app = api.asgi()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from genweave._aio import closing_stream
from genweave.context import deadline, with_metadata
from genweave.errors import CallError
from genweave.gateway.auth import ANONYMOUS, KeyRing
from genweave.gateway.errors import (
    APIError,
    _ErrorEnvelope,
    error_response,
    from_call_error,
    from_validation_error,
)
from genweave.gateway.guard import guarded
from genweave.gateway.limits import HttpLimits
from genweave.observe.metrics import REGISTRY

__all__ = ["Api", "ApiCall", "sse"]

logger = logging.getLogger("genweave.gateway")

JSON: Final = "application/json"
DEFAULT_MAX_BODY: Final = 4 * 1024 * 1024
DEFAULT_MAX_CONCURRENT: Final = 1024
CLIENT_CLOSED: Final = 499
"""nginx's status for a request whose client went away; logged, never seen by anyone."""
GATEWAY_COMPONENT: Final = "Gateway"


@dataclass(slots=True)
class ApiCall:
    """What a handler knows about the request besides its body."""

    request: Request
    key: str
    id: str
    timeout: float


Handler = Callable[[ApiCall, Any], Awaitable[Any]]


@dataclass
class _RouteSpec:
    method: str
    path: str
    handler: Handler
    body: type | None
    response: type | None
    stream: type | None
    summary: str
    auth: bool
    metered: bool = True
    """Whether a call spends its key's rate limit."""
    exempt: bool = False
    """A probe: exempt from the limits on clients and from admission."""
    tags: list[str] = field(default_factory=list)


class Api:
    """A set of routes served with the same keys, limits and error handling.

    ``limits`` bounds what clients may hold (:mod:`genweave.gateway.limits`);
    give the :class:`~genweave.gateway.server.HttpServer` that serves it the same.
    """

    def __init__(self, title: str, *, keys: KeyRing, version: str = "1",
                 max_body_bytes: int = DEFAULT_MAX_BODY, timeout: float = 120.0,
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT,
                 limits: HttpLimits | None = None) -> None:
        self.title = title
        self.version = version
        self.keys = keys
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout
        self.max_concurrent = max_concurrent
        """API requests handled at once, each taken once its body is read (a stream counts
        until its first event); more get 503."""
        self.limits = limits or HttpLimits()
        self.in_flight = 0
        self._routes: list[_RouteSpec] = []
        self._extra: list[Route] = []

    def post(self, path: str, *, body: type, response: type | None = None,
             stream: type | None = None, summary: str = "",
             auth: bool = True) -> Callable[[Handler], Handler]:
        return self._add("POST", path, body, response, stream, summary, auth)

    def get(self, path: str, *, response: type | None = None, summary: str = "",
            auth: bool = True, metered: bool = True,
            exempt: bool = False) -> Callable[[Handler], Handler]:
        """A GET route; ``exempt`` for a probe that must answer whatever clients do."""
        return self._add("GET", path, None, response, None, summary, auth, metered, exempt)

    def mount(self, route: Route) -> None:
        """Add a plain Starlette route (static files, pages) outside the API."""
        self._extra.append(route)

    def _add(self, method: str, path: str, body: type | None, response: type | None,
             stream: type | None, summary: str, auth: bool, metered: bool = True,
             exempt: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append(_RouteSpec(method, path, handler, body, response, stream,
                                           summary or (handler.__doc__ or "").strip(), auth,
                                           metered=metered, exempt=exempt))
            return handler

        return register

    def asgi(self) -> ASGIApp:
        """The ASGI app: the routes, behind the layers that bound what clients hold."""
        routes = [Route(r.path, self._endpoint(r), methods=[r.method]) for r in self._routes]
        routes.append(Route("/openapi.json", self._openapi_endpoint, methods=["GET"]))
        app = Starlette(routes=routes + self._extra,
                        exception_handlers={HTTPException: _http_exception})
        return guarded(app, self.limits, max_body_bytes=self.max_body_bytes,
                       exempt={r.path for r in self._routes if r.exempt})

    def _endpoint(self, spec: _RouteSpec) -> Callable[[Request], Awaitable[Response]]:
        stats = REGISTRY.method(GATEWAY_COMPONENT, f"{spec.method} {spec.path}")
        decoder: msgspec.json.Decoder[Any] | None = (
            msgspec.json.Decoder(spec.body, strict=False) if spec.body is not None else None)

        async def endpoint(request: Request) -> Response:
            # The body is read by now (ReadBody): a slot goes only to a request ready to run.
            if not spec.exempt and self.in_flight >= self.max_concurrent:
                stats.record(0.0, False)
                return error_response(_OVERLOADED)
            start = time.perf_counter()
            stats.in_flight += 1
            self.in_flight += 1
            try:
                response = await self._handle(spec, decoder, request)
            finally:
                stats.in_flight -= 1
                self.in_flight -= 1
            stats.record(time.perf_counter() - start, response.status_code < 500)
            return response

        return endpoint

    async def _handle(self, spec: _RouteSpec, decoder: msgspec.json.Decoder[Any] | None,
                      request: Request) -> Response:
        try:
            key = self.keys.authenticate(request.headers.get("authorization"), spec.metered) \
                if spec.auth else "-"
            body = None
            if decoder is not None:
                body = _decode(decoder, await request.body())  # read, sized and paced
            call = ApiCall(request, key, secrets.token_hex(12), self.timeout)
            # For a stream this bounds the start (up to its first event); sse() bounds the rest.
            # The key's name (and OpenAI's ``user``) travel with every call: experiments
            # keep a user on one variant.
            identity = _identity(key, body)
            with with_metadata(**identity) if identity else contextlib.nullcontext():
                async with deadline(self.timeout):
                    work = spec.handler(call, body)
                    # A route that can stream may also run long without streaming.
                    result = await (work if spec.stream is None
                                    else _unless_disconnected(request, work))
        except APIError as error:
            return error_response(error)
        except CallError as error:
            api_error = from_call_error(error)
            log = logger.error if api_error.status >= HTTPStatus.INTERNAL_SERVER_ERROR \
                else logger.info
            log("%s %s: %s", spec.method, spec.path, error)
            return error_response(api_error)
        except Exception:
            logger.exception("%s %s failed", spec.method, spec.path)
            return error_response(APIError(HTTPStatus.INTERNAL_SERVER_ERROR,
                                           "internal error; it is logged on the server",
                                           code="internal_error"))
        if isinstance(result, Response):
            return result
        return Response(msgspec.json.encode(result), media_type=JSON)

    async def _openapi_endpoint(self, request: Request) -> Response:
        return Response(msgspec.json.encode(self.openapi()), media_type=JSON)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every route, from the same Structs that validate."""
        types = [t for r in self._routes for t in (r.body, r.response, r.stream) if t]
        schemas, components = msgspec.json.schema_components(
            [*types, _ErrorEnvelope], ref_template="#/components/schemas/{name}")
        by_type = dict(zip([*types, _ErrorEnvelope], schemas, strict=True))
        paths: dict[str, dict[str, Any]] = {}
        error = {"description": "error", "content": {JSON: {"schema": by_type[_ErrorEnvelope]}}}
        for r in self._routes:
            operation: dict[str, Any] = {
                "summary": r.summary.splitlines()[0] if r.summary else r.path,
                "operationId": f"{r.method.lower()}{r.path.replace('/', '_')}",
                "responses": {"200": _ok(r, by_type), "4XX": error, "5XX": error},
            }
            if r.body is not None:
                operation["requestBody"] = {"required": True,
                                            "content": {JSON: {"schema": by_type[r.body]}}}
            if r.auth and not self.keys.open:
                operation["security"] = [{"bearer": []}]
            paths.setdefault(r.path, {})[r.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {"schemas": components,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        }


def _ok(route: _RouteSpec, by_type: dict[type, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if route.response is not None:
        content[JSON] = {"schema": by_type[route.response]}
    if route.stream is not None:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return {"description": "success", **({"content": content} if content else {})}


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise from_validation_error(str(exc)) from None
    except msgspec.DecodeError:
        raise APIError(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.",
                       code="invalid_json") from None


async def _unless_disconnected(request: Request, work: Awaitable[Any]) -> Any:
    """Await ``work``, cancelling it (and so the calls it made) if the client goes away.

    Only once the body has been read: from then on the ASGI ``receive`` channel
    carries nothing but the disconnect.
    """
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            return Response(status_code=CLIENT_CLOSED)  # no one is left to read it
        raise
    finally:
        watcher.cancel()


def _identity(key: str, body: object) -> dict[str, str]:
    """Call metadata naming who asks: the key's name (never the secret) and ``user``."""
    identity = {} if key in (ANONYMOUS, "-") else {"api_key": key}
    user = getattr(body, "user", "")
    if user:
        identity["user"] = user
    return identity


_OVERLOADED: Final = APIError(HTTPStatus.SERVICE_UNAVAILABLE,
                              "the gateway is at its limit of requests in flight; retry shortly",
                              code="overloaded", headers={"Retry-After": "1"})


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = HTTPStatus(exc.status_code)
    message = (f"Unknown path {request.url.path}" if status == HTTPStatus.NOT_FOUND
               else f"{status.phrase}: {exc.detail}")
    return error_response(APIError(status, message))


DONE: Final = b"data: [DONE]\n\n"


async def sse(events: AsyncIterator[bytes], timeout: float) -> StreamingResponse:
    """Server-sent events, one JSON document each, ending with ``data: [DONE]``.

    The first event is awaited before the response starts, so a failure to
    start (an unavailable component, say) is a proper HTTP status.  An error
    after that is sent as a final ``{"error": ...}`` event, as OpenAI does.
    ``timeout`` bounds the whole stream; it is applied to each wait for an
    event, never across a ``yield``.  When the client disconnects, Starlette
    cancels the iteration, and the cancellation reaches the component behind it.
    """
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    async with deadline(timeout):
        try:
            first = await anext(events)
        except StopAsyncIteration:
            first = None

    async def body() -> AsyncIterator[bytes]:
        async with closing_stream(events):
            try:
                if first is not None:
                    yield b"data: " + first + b"\n\n"
                    while True:
                        # Let the loop run once per event: once the client is gone, uvicorn's
                        # send returns at once, and a producer with events at hand would then
                        # spin without Starlette's disconnect listener ever running to stop it.
                        await asyncio.sleep(0)
                        try:
                            async with asyncio.timeout_at(until):
                                event = await anext(events)
                        except StopAsyncIteration:
                            break
                        yield b"data: " + event + b"\n\n"
            except TimeoutError:
                yield b"data: " + APIError(
                    HTTPStatus.GATEWAY_TIMEOUT, f"The stream did not finish within {timeout:g}s.",
                    code="timeout").body() + b"\n\n"
            except CallError as error:
                yield b"data: " + from_call_error(error).body() + b"\n\n"
            except APIError as error:
                yield b"data: " + error.body() + b"\n\n"
        yield DONE

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
