"""What the transport proves about the other end of a connection, handed up as plain facts.

The transport decides nothing with them: the runtime (``genweave.runtime.authorization``)
turns them and the caller's handshake into an identity it trusts, or a refusal.

- Over a Unix socket the kernel tells who connected (``SO_PEERCRED``): its uid and pid.
- Over TLS with a client certificate the TLS layer has checked it against the app's
  CA; its subject alternative name URIs (``spiffe://genweave/APP/GROUP``) name the caller.
- Over plain TCP or the in-memory transport nothing is proven.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any, Final

import msgspec

__all__ = ["Peer", "peer_of"]

_UCRED: Final = struct.Struct("3i")
"""``struct ucred``: pid, uid, gid."""


class Peer(msgspec.Struct, frozen=True):
    """The proven facts about one connection's peer; ``None``/empty where nothing is proven.

    Example::

        peer_of(transport)   # Peer(address='unix', uid=1000, pid=4242)
    """

    address: str
    """Where it connected from, for logs."""
    uid: int | None = None
    pid: int | None = None
    certificate_uris: tuple[str, ...] = ()
    """Subject alternative name URIs of the client certificate the TLS layer verified."""
    tls: bool = False


def peer_of(transport: asyncio.BaseTransport) -> Peer:
    """Read what ``transport`` proves about its peer (see the module docstring)."""
    ssl_object = transport.get_extra_info("ssl_object")
    sock = transport.get_extra_info("socket")
    address = _address(transport.get_extra_info("peername"))
    if ssl_object is not None:
        cert: dict[str, Any] = ssl_object.getpeercert() or {}
        uris = tuple(value for kind, value in cert.get("subjectAltName", ()) if kind == "URI")
        return Peer(address, certificate_uris=uris, tls=True)
    if sock is not None and sock.family == socket.AF_UNIX and hasattr(socket, "SO_PEERCRED"):
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        pid, uid, _ = _UCRED.unpack(raw)
        return Peer("unix", uid=uid, pid=pid)
    return Peer(address)


def _address(peername: object) -> str:
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return str(peername or "unix")
