"""Which calls a replica takes: none while it drains, and at most ``max_in_flight`` at once.

A bounded number of calls in flight keeps a replica's latency bounded under
overload: a call beyond the limit is refused at once with ``Overloaded`` and
the caller's router tries another replica.  Routers hold each caller to the
same limit per replica (``Router.limits``), so most refusals never cost a
round trip; the replica's own count is the backstop for several callers.

Example::

    admission = Admission("model/0", max_in_flight=64)
    refusal = admission.refusal("Model", "generate")
    if refusal is None:
        admission.enter()
        ...
        admission.leave()
"""

from __future__ import annotations

import asyncio
from typing import Final

from genweave.errors import Overloaded, Unavailable

__all__ = ["DRAIN_QUIET", "EXEMPT", "UNLIMITED", "Admission"]

UNLIMITED: Final = 1 << 62
"""A limit on calls in flight that is never reached."""
DRAIN_QUIET: Final = 0.1
"""Seconds without a new call after which a draining replica may close its connections."""
EXEMPT: Final = frozenset({"genweave.Admin", "genweave.Control"})
"""Components whose calls are never refused for load: metrics and control must get through."""
_DRAINING: Final = "replica is draining and takes no new calls"


class Admission:
    """A replica's count of calls in flight, and its rule for refusing more."""

    def __init__(self, where: str, max_in_flight: int = UNLIMITED) -> None:
        self.where = where
        self.max_in_flight = max_in_flight
        self.draining = False
        self.in_flight = 0
        self.refused = 0
        """Calls refused as overloaded since start."""
        self.refused_at = 0.0
        """When a call was last refused for draining (loop time)."""
        self._idle: asyncio.Future[None] | None = None

    def refusal(self, component: str, method: str) -> Unavailable | None:
        """Why a call to ``component.method`` is refused now, or ``None`` when it may run."""
        if self.draining:
            self.refused_at = asyncio.get_running_loop().time()
            return Unavailable(_DRAINING, component=component, method=method, where=self.where)
        if self.in_flight >= self.max_in_flight and component not in EXEMPT:
            self.refused += 1
            return Overloaded(f"replica is at its limit of {self.max_in_flight} calls in flight",
                              component=component, method=method, where=self.where)
        return None

    def enter(self) -> None:
        """A call starts: count it."""
        self.in_flight += 1

    def leave(self) -> None:
        """A call ended: a drain waiting for the last one may go on."""
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def drain(self, grace: float, quiet: float = DRAIN_QUIET) -> bool:
        """Refuse new calls, then wait up to ``grace`` seconds for calls in flight.

        Then stay up, refusing, until no call has come for ``quiet`` seconds:
        callers learn of the drain through the supervisor a moment later, and a
        call sent meanwhile must get a refusal (which they retry elsewhere), not
        a connection closed under it (which they may not).  Returns whether every
        call in flight finished.
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + grace
        self.draining = True
        self.refused_at = loop.time()
        finished = True
        if self.in_flight:
            self._idle = loop.create_future()
            try:
                async with asyncio.timeout_at(until):
                    await self._idle
            except TimeoutError:
                finished = False
        while (wait := min(self.refused_at + quiet, until) - loop.time()) > 0:
            await asyncio.sleep(wait)
        return finished
