"""One call on its way out of this process, as a remote proxy hands it to the router.

One object instead of eight values passed down every step: the router's retry
loop, its variant choice and its shadow copies all read (and the router fills
in) the same call.  A Struct, so making one costs about as much as a tuple.
"""

from __future__ import annotations

import msgspec

from genweave.component import MethodSpec
from genweave.resilience import RetryPolicy

__all__ = ["OutgoingCall"]


class OutgoingCall(msgspec.Struct):
    """A call to ``spec`` on some replica of ``group``.

    Example::

        call = OutgoingCall("model", spec, spec.args_type("hi"), {}, deadline=None,
                            traceparent=outgoing_traceparent())
        result = await router.call(call)
    """

    group: str
    spec: MethodSpec
    args: msgspec.Struct
    meta: dict[str, str]
    deadline: float | None
    """Absolute, on the event loop's clock: one deadline for every try of the call."""
    traceparent: str
    retry: RetryPolicy | None = None
    """The Ref's own policy; ``None`` for the router's default."""
    variant: str | None = None
    """The variant of ``group`` that serves it, once chosen; ``None`` for the primary."""
    address: str = ""
    """The replica of its latest try (filled in by the router)."""
