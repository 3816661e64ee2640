"""The wire protocol: msgpack envelopes, each framed by a 4-byte big-endian length.

A connection starts with ``Hello`` (caller) and ``Welcome`` (callee, with the
interfaces it serves).  Then any number of calls are multiplexed by ``id``::

    caller                       callee
    Request(id, ...)      ->
                          <-     Reply(id, result) | Failure(id, ...)
    Request(id, stream)   ->
                          <-     Item(id, item) ... up to STREAM_WINDOW unacknowledged
    Credit(id, n)         ->                        (the consumer took n more)
                          <-     End(id) | Failure(id, ...)
    Cancel(id)            ->                        (the caller gave up)

Arguments, results and items are ``msgspec.Raw``: the envelope is decoded
first, then the payload with the method's own typed decoder.
"""

from __future__ import annotations

from typing import Final

import msgspec

from genweave.codec import decoder

__all__ = [
    "HEADER",
    "PROTOCOL_VERSION",
    "STREAM_WINDOW",
    "Cancel",
    "Credit",
    "End",
    "Failure",
    "Hello",
    "InterfaceInfo",
    "Item",
    "Message",
    "MethodInfo",
    "Reply",
    "Request",
    "Welcome",
    "message_decoder",
]

PROTOCOL_VERSION: Final = 1
HEADER: Final = 4
STREAM_WINDOW: Final = 64
"""Items a callee may send ahead of the caller's consumption (stream backpressure)."""


class _Envelope(msgspec.Struct, array_like=True, tag=True, omit_defaults=True):
    pass


class MethodInfo(msgspec.Struct, array_like=True):
    params: list[tuple[str, str, bool]]
    result: str
    stream: bool


class InterfaceInfo(msgspec.Struct, array_like=True):
    version: str
    fingerprint: str
    methods: dict[str, MethodInfo]


class Hello(_Envelope, tag=0):
    protocol: int
    app: str
    caller: str


class Welcome(_Envelope, tag=1):
    protocol: int
    app: str
    where: str
    interfaces: dict[str, InterfaceInfo]


class Request(_Envelope, tag=2):
    id: int
    component: str
    method: str
    args: msgspec.Raw
    timeout: float | None = None
    traceparent: str = ""
    caller: str = ""
    meta: dict[str, str] = {}


class Reply(_Envelope, tag=3):
    id: int
    result: msgspec.Raw


class Failure(_Envelope, tag=4):
    id: int
    kind: str
    message: str
    component: str = ""
    method: str = ""
    where: str = ""
    remote_type: str = ""


class Item(_Envelope, tag=5):
    id: int
    item: msgspec.Raw


class End(_Envelope, tag=6):
    id: int


class Cancel(_Envelope, tag=7):
    id: int


class Credit(_Envelope, tag=8):
    id: int
    n: int


Message = Hello | Welcome | Request | Reply | Failure | Item | End | Cancel | Credit

message_decoder: Final = decoder(Message)
