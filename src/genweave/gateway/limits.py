"""The gateway's limits on slow and hostile HTTP clients, in one settings object.

Each limit answers one way a client can hold a server's resources without
doing the work of a client, and each has a default safe on the open internet:

- a client that sends its headers slowly (slowloris): ``header_timeout``,
  ``max_header_bytes``;
- a client that sends its body slowly: ``body_timeout`` and ``body_min_rate``,
  Apache's ``mod_reqtimeout`` rule (the time allowed grows with what arrived);
- requests still being read: ``max_reading_requests``, apart from the slots
  of requests ready to run (the :class:`~genweave.gateway.api.Api`'s
  ``max_concurrent``), which a request takes only once its body is read;
- a client that stops reading its answer: ``write_buffer_bytes``,
  ``write_timeout``;
- idle connections: ``keep_alive_timeout`` (uvicorn's);
- many connections or requests from one address: ``max_connections``,
  ``max_connections_per_client``, ``max_requests_per_client``, with
  ``trusted_proxies`` naming the addresses whose ``X-Forwarded-For`` is believed.

Health, readiness and metrics are exempt from the bounds (routes declared with
``exempt=True``): a replica under attack must not look dead to its orchestrator.
The time limits hold for every connection: a probe sends its request at once.

Example::

    limits = HttpLimits(header_timeout=5.0, trusted_proxies=["10.0.0.0/8"])
    api = Api("my app", keys=KeyRing([]), limits=limits)
    server = HttpServer(api.asgi(), "0.0.0.0", 8000, limits=limits)
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Final

import msgspec

__all__ = ["UNLIMITED", "HttpLimits"]

UNLIMITED: Final = 0
"""For the per-client bounds: no bound."""

_Seconds = Annotated[float, msgspec.Meta(gt=0)]
_Positive = Annotated[int, msgspec.Meta(gt=0)]
_Bound = Annotated[int, msgspec.Meta(ge=UNLIMITED)]


class HttpLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a client may hold, and for how long; ``[components.Gateway.limits]`` in TOML.

    A misspelt key is an error, not a silently ignored limit.
    """

    header_timeout: _Seconds = 10.0
    """Seconds from a connection's start (or a kept-alive request's first byte) to the end
    of the request's headers; past it, 408 and the connection is closed."""
    max_header_bytes: _Positive = 64 * 1024
    """Bytes of request line and headers; past it, 431 and the connection is closed."""
    body_timeout: _Seconds = 10.0
    """Seconds a request body may take, plus one second per ``body_min_rate`` bytes
    received; past it, 408 and the connection is closed."""
    body_min_rate: _Positive = 1024
    """Bytes per second a long body must keep up, on average, after ``body_timeout``."""
    max_reading_requests: _Positive = 256
    """Requests whose bodies are still arriving.  One more takes the place of the one that
    has been reading longest (that one gets 408), so slow senders never starve new ones."""
    write_buffer_bytes: _Positive = 64 * 1024
    """Bytes of an answer held for a client that does not read them; past it the answer
    (a stream, say) waits, and nothing more is produced for that client."""
    write_timeout: _Seconds = 30.0
    """Seconds an answer may wait for a client that does not read; then the connection
    is dropped and the stream cancelled, with the generation behind it."""
    keep_alive_timeout: _Positive = 5
    """Seconds an idle kept-alive connection stays open (uvicorn's ``timeout_keep_alive``)."""
    max_connections: _Positive = 4096
    """Open connections; past it, a request is answered 503 and its connection closed."""
    max_connections_per_client: _Bound = 256
    """Open connections from one address; past it, 429 and the connection is closed.
    ``0``: no bound.  Never applied to a trusted proxy's own address."""
    max_requests_per_client: _Bound = 256
    """Requests in flight (body read, answer not finished) from one client; past it, 429.
    The client is the ``X-Forwarded-For`` address behind a trusted proxy.  ``0``: no bound."""
    trusted_proxies: list[str] = []
    """Addresses or networks (``10.0.0.0/8``) of the proxies in front of the gateway.
    Only their ``X-Forwarded-For`` is believed; anyone else could write one."""

    def __post_init__(self) -> None:
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an address or a network; "
                                 "write 10.0.0.7 or 10.0.0.0/8") from None
