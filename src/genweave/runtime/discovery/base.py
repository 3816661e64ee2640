"""Discovery: how a caller learns each group's replicas and follows them as they change.

Three implementations, one per kind of deployment: the local supervisor
(``genweave.deploy.attach.ControlLink``, over its control socket), DNS (the A
records of a Kubernetes headless Service, ``dns.py``) and static addresses
(from the topology file or the environment, ``static.py``).  Each feeds the
caller's ``Membership``, which the router reads; none of them changes how a
call is routed.

What each source says is only half of it: a caller also learns from its own
connections.  The router reports a connection that failed (``unreachable``),
which takes that address out of the caller's set at once; a probe brings it
back once it answers (``roster.py`` holds the rule).  So a replica that stops
answering leaves every caller's set at that caller's first failed connection
to it, whatever the source, and one that comes back rejoins within a probe
interval (``PROBE_INTERVAL``) of answering.

Readiness is the source's: the supervisor lists a replica once it registered
ready, Kubernetes lists a pod once its ``/readyz`` answers, a static address is
in until a connection to it fails.  Versions are the handshake's: every
connection compares interface fingerprints (``genweave.transport.compat``), so
two versions side by side fail loudly, never garble.

Example::

    discovery = StaticDiscovery("assistant", "core/10.0.0.2:7070", topology)
    router = Router("assistant", "core/10.0.0.2:7070", discovery.membership,
                    on_unreachable=discovery.unreachable)
    await discovery.start()
    ...
    await discovery.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import msgspec

from genweave.errors import Unavailable
from genweave.runtime.discovery.roster import PROBE_INTERVAL, Roster, listed_addresses, without
from genweave.runtime.membership import Membership, MembershipView
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect

__all__ = ["PROBE_TIMEOUT", "Discovery"]

PROBE_TIMEOUT: Final = 1.0
"""Seconds a probe waits for a connection and its handshake."""
_EMPTY: Final = MembershipView(0, {})

logger = logging.getLogger("genweave.discovery")


def _nothing() -> None:
    return None


class Discovery:
    """The base of every discovery: the caller's ``membership``, and what its connections teach.

    A subclass follows its source and hands each listing to ``listed``; this
    class removes the addresses whose connections failed, probes them, and
    publishes the result to ``membership``.  ``log_changes`` logs each group's
    set as it changes (one line per change), for deployments without a
    supervisor to report them.
    """

    log_changes = False

    def __init__(self, app: str, caller: str, *, probe_interval: float = PROBE_INTERVAL,
                 probe_timeout: float = PROBE_TIMEOUT) -> None:
        self.app = app
        self.caller = caller
        self.membership = Membership()
        self.synced = asyncio.Event()
        """Set once the source's first listing has arrived."""
        self.probe_timeout = probe_timeout
        self._roster = Roster(probe_interval)
        self._source = _EMPTY
        self._published = _EMPTY
        self._wake = asyncio.Event()
        self._prober: asyncio.Task[None] | None = None

    async def start(self, on_lost: Callable[[], None] = _nothing) -> None:
        """Follow the source in the background; ``on_lost`` is called if it is gone for good."""
        self._prober = asyncio.create_task(self._probe_forever())

    def unreachable(self, address: str) -> None:
        """A connection to ``address`` failed (the router's hook): calls avoid it from now on."""
        if self._roster.failed(address, asyncio.get_running_loop().time()):
            logger.warning("%s did not answer; calls avoid it until it does", address)
            self._publish()
            self._wake.set()
            self.refresh()

    def refresh(self) -> None:
        """Ask the source again soon, after a failed connection (DNS re-resolves at once)."""

    async def joined(self, group: str, replica: int, address: str, pid: int) -> None:
        """This process now serves ``group`` at ``address``: make it known, if the source is told.

        Only the supervisor is told; DNS learns it from Kubernetes (the pod's
        readiness probe), a static list knew it all along.
        """

    async def leaving(self, group: str, replica: int) -> None:
        """This process drains: leave membership, if the source is told (see ``joined``)."""

    def listed(self, view: MembershipView) -> None:
        """What the source lists now, handed over by a subclass (its version is ignored)."""
        self._source = view
        if self._roster.listed(listed_addresses(view)):
            self._wake.set()
        self._publish()
        self.synced.set()

    def _publish(self) -> None:
        view = without(self._source, self._roster.out, self.membership.version + 1)
        unchanged = msgspec.structs.replace(view, version=0) == msgspec.structs.replace(
            self._published, version=0)
        if unchanged and self.membership.version:
            return
        if self.log_changes:
            _log_changes(self._published, view)
        self._published = view
        self.membership.update(view)

    async def _probe_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            due_at = self._roster.next_probe()
            wait = None if due_at is None else due_at - loop.time()
            if wait is None or wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                continue
            due = self._roster.due(loop.time())
            answers = await asyncio.gather(*(self._probe(address) for address in due))
            back = [address for address, ok in zip(due, answers, strict=True)
                    if self._roster.probed(address, ok, loop.time())]
            if back:
                logger.info("%s answer%s again", ", ".join(back), "s" if len(back) == 1 else "")
                self._publish()

    async def _probe(self, address: str) -> bool:
        """Whether a replica of this app answers at ``address`` (connection and handshake)."""
        try:
            connection = await connect(address, self._probe_connection, self.probe_timeout)
        except Unavailable:
            return False
        connection.close()
        return True

    def _probe_connection(self) -> ClientConnection:
        return ClientConnection(self.app, self.caller)

    async def close(self) -> None:
        """Stop following the source and probing."""
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober


def _log_changes(before: MembershipView, after: MembershipView) -> None:
    for group in sorted(set(before.groups) | set(after.groups)):
        old, new = before.groups.get(group, []), after.groups.get(group, [])
        if old != new:
            logger.info("group %s: %s", group, ", ".join(new) if new else "no replica")
