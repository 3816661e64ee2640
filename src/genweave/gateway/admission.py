"""ASGI layers bounding what clients hold: connections in all and per client, and requests
in flight per client, with the client named behind trusted proxies.

Each layer is small, wraps an ASGI app with the same call signature, and acts
on a pure decision from :mod:`genweave.gateway.clients`.  Their order is
:func:`genweave.gateway.guard.guarded`'s.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.types import ASGIApp, Receive, Scope, Send

from genweave.gateway.clients import (
    ClientCounts,
    ConnectionVerdict,
    TrustedProxies,
    connection_verdict,
)
from genweave.gateway.connections import connection_count
from genweave.gateway.errors import APIError, closing_error, error_response
from genweave.gateway.limits import HttpLimits

__all__ = ["ClientInFlight", "ConnectionBounds", "ForwardedClient"]


def _host(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class ConnectionBounds:
    """Refuse a request, and close its connection, when connections pass a bound.

    Decided when the request's headers have come, from the counts the server
    put in its scope (:mod:`genweave.gateway.connections`): in all, 503; from
    one address (a trusted proxy's excepted), 429.

    Example::

        app = ConnectionBounds(app, HttpLimits(), TrustedProxies([]))
    """

    def __init__(self, app: ASGIApp, limits: HttpLimits, proxies: TrustedProxies) -> None:
        self.app = app
        self.limits = limits
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        count = connection_count(scope)
        if count is not None:
            peer = _host(scope)
            proxy = bool(self.proxies) and self.proxies.trusts(peer)
            verdict = connection_verdict(self.limits, count.open, count.from_peer, proxy)
            if verdict is not ConnectionVerdict.SERVE:
                await error_response(self._refusal(verdict, peer))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, verdict: ConnectionVerdict, peer: str) -> APIError:
        if verdict is ConnectionVerdict.TOO_MANY:
            return closing_error(HTTPStatus.SERVICE_UNAVAILABLE, f"The gateway holds "
                                 f"{self.limits.max_connections} connections, its limit; retry "
                                 "shortly.", code="overloaded", retry_after=True)
        return closing_error(HTTPStatus.TOO_MANY_REQUESTS, f"{peer} holds "
                             f"{self.limits.max_connections_per_client} connections to the "
                             "gateway, the limit per client; reuse them (keep-alive) instead of "
                             "opening more.", code="too_many_connections", retry_after=True)


class ForwardedClient:
    """Name the client behind trusted proxies in ``scope["client"]``.

    uvicorn's ``proxy_headers`` would do this too, but before any layer of ours
    runs, so the bound on connections would see the client rather than the
    proxy whose connections they are; and by default it believes 127.0.0.1.  So
    the server leaves it off, and this layer applies the one list of proxies
    that the bounds also use.

    Example::

        app = ForwardedClient(app, TrustedProxies(["10.0.0.0/8"]))
    """

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.proxies and scope.get("client"):
            forwarded = [value.decode("latin-1") for name, value in scope["headers"]
                         if name == b"x-forwarded-for"]
            peer = _host(scope)
            client = self.proxies.client_of(peer, forwarded) if forwarded else peer
            if client != peer:
                scope = {**scope, "client": (client, 0)}
        await self.app(scope, receive, send)


class ClientInFlight:
    """At most ``limit`` requests in flight per client (``UNLIMITED``: no bound); more get 429.

    A request counts from the end of its body to the end of its answer, a
    stream's included, so one client cannot take every slot.  A trusted proxy
    speaking for itself (no ``X-Forwarded-For``) is not bounded.

    Example::

        app = ClientInFlight(app, limit=256, proxies=TrustedProxies([]))
    """

    def __init__(self, app: ASGIApp, limit: int, proxies: TrustedProxies) -> None:
        self.app = app
        self.counts = ClientCounts(limit)
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = _host(scope)
        if scope["type"] != "http" or (self.proxies and self.proxies.trusts(client)):
            await self.app(scope, receive, send)
            return
        if not self.counts.take(client):
            await error_response(APIError(
                HTTPStatus.TOO_MANY_REQUESTS, f"{client} has {self.counts.limit} requests in "
                "flight, the limit per client; wait for answers before sending more.",
                code="too_many_requests_in_flight", headers={"Retry-After": "1"}))(
                    scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.counts.release(client)
