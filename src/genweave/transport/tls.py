"""Mutual TLS for TCP connections: contexts from an app's CA, and who a certificate names.

Every replica and the deployer hold a certificate issued by the app's CA
(``genweave certs``) whose subject alternative name is a URI naming the app
and the identity: ``spiffe://genweave/APP/GROUP``.  Both sides require TLS 1.3
and a certificate from that CA: a server refuses a client without one, and a
client refuses a server without one.  Host names are not checked (replicas
move between addresses); the URI is: a caller requires the callee's
certificate to name the group its handshake names (``ClientConnection``), and
the runtime turns the caller's into the identity its calls are checked against.

A process registers its certificate per app with ``use_tls``; from then on
``listen`` and ``connect`` wrap every TCP connection of that app in TLS.

Example::

    use_tls("hello", TlsFiles.in_directory(Path("certs"), "frontend"))
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Final

import msgspec

__all__ = [
    "InPlaceReads",
    "TlsFiles",
    "client_context",
    "identity_uri",
    "server_context",
    "tls_contexts",
    "use_tls",
]

URI_PREFIX: Final = "spiffe://genweave/"
READ_BUFFER: Final = 64 * 1024


class TlsFiles(msgspec.Struct, frozen=True):
    """The PEM files of one identity: the app's CA certificate, its own certificate and key."""

    ca: str
    certificate: str
    key: str

    @classmethod
    def in_directory(cls, directory: Path, identity: str) -> TlsFiles:
        """The files ``genweave certs`` writes for ``identity`` in ``directory``."""
        return cls(str(directory / "ca.pem"), str(directory / f"{identity}.pem"),
                   str(directory / f"{identity}-key.pem"))


def identity_uri(app: str, identity: str) -> str:
    """The URI a certificate carries for ``identity`` (a group or the control identity).

    Example::

        identity_uri("hello", "frontend")   # "spiffe://genweave/hello/frontend"
    """
    return f"{URI_PREFIX}{app}/{identity}"


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.3, this identity's certificate, and a client certificate from the CA required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _common(context, files)
    return context


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.3, this identity's certificate, and a server certificate from the CA required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the identity is the SAN URI, checked after the handshake
    _common(context, files)
    return context


def _common(context: ssl.SSLContext, files: TlsFiles) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=files.ca)
    context.load_cert_chain(files.certificate, files.key)


_contexts: dict[str, tuple[ssl.SSLContext, ssl.SSLContext]] = {}


def use_tls(app: str, files: TlsFiles | None) -> None:
    """Wrap this process's TCP connections of ``app`` in mutual TLS (``None``: stop).

    Called again with new files (a rotation), new connections use them; open
    connections keep theirs until they close.
    """
    if files is None:
        _contexts.pop(app, None)
    else:
        _contexts[app] = (server_context(files), client_context(files))


def tls_contexts(app: str) -> tuple[ssl.SSLContext, ssl.SSLContext] | None:
    """The (server, client) contexts registered for ``app``, if any."""
    return _contexts.get(app)


class InPlaceReads(asyncio.BufferedProtocol):
    """Hands ``protocol`` what a TLS transport decrypts, read into one buffer kept per connection.

    Given a plain ``Protocol``, uvloop's TLS transport allocates a 256 KiB
    ``bytes`` for every read (an mmap, mremap and munmap per message: the
    largest part of TLS's cost per call); given a ``BufferedProtocol`` it
    decrypts into the buffer offered.  Only the bytes read are copied on.
    """

    def __init__(self, protocol: asyncio.Protocol) -> None:
        self.protocol = protocol
        self._buffer = bytearray(READ_BUFFER)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.protocol.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.protocol.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.protocol.data_received(bytes(self._buffer[:nbytes]))

    def eof_received(self) -> bool | None:
        return self.protocol.eof_received()
