"""The layers between clients and an app, in order, with probes let through.

::

    Exempt ── a probe's path (/healthz, /readyz, /metrics) ──────────────> app
      └─ ConnectionBounds   too many connections, in all or from one address: 503/429
         └─ ForwardedClient the client behind trusted proxies
            └─ ReadBody     the whole body, paced and bounded: 408/413
               └─ ClientInFlight   too many requests in flight from one client: 429
                  └─ app           (the Api's own admission to max_concurrent slots)

The server below them (:mod:`genweave.gateway.protocol`) bounds what comes
before a request exists: its headers' time and size, a stalled answer, idle
connections.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from genweave.gateway.admission import ClientInFlight, ConnectionBounds, ForwardedClient
from genweave.gateway.body import ReadBody
from genweave.gateway.clients import TrustedProxies
from genweave.gateway.limits import HttpLimits
from genweave.gateway.pacing import BodyPace

__all__ = ["Exempt", "guarded"]


class Exempt:
    """Requests for ``paths`` go straight to ``open``, every other one through ``limited``.

    Health probes must answer under attack, or an orchestrator restarts (or
    stops routing to) every replica the attack reaches.

    Example::

        app = Exempt({"/healthz"}, open=app, limited=ReadBody(app, ...))
    """

    def __init__(self, paths: Collection[str], *, open: ASGIApp, limited: ASGIApp) -> None:
        self.paths = frozenset(paths)
        self.open = open
        self.limited = limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.open(scope, receive, send)
        else:
            await self.limited(scope, receive, send)


def guarded(app: ASGIApp, limits: HttpLimits, *, max_body_bytes: int,
            exempt: Collection[str]) -> ASGIApp:
    """``app`` behind every layer above, configured from ``limits``.

    Example::

        asgi = guarded(starlette_app, HttpLimits(), max_body_bytes=4 << 20, exempt={"/healthz"})
    """
    proxies = TrustedProxies(limits.trusted_proxies)
    pace = BodyPace(limits.body_timeout, limits.body_min_rate)
    limited = ConnectionBounds(ForwardedClient(ReadBody(
        ClientInFlight(app, limits.max_requests_per_client, proxies),
        max_body_bytes=max_body_bytes, pace=pace, max_reading=limits.max_reading_requests),
        proxies), limits, proxies)
    return Exempt(exempt, open=app, limited=limited)
