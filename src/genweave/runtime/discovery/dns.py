"""DNS discovery: a group's replicas are the A records of its Kubernetes headless Service.

Every group has a headless Service named ``<app>-<group>`` (a variant:
``<app>-<group>-<variant>``), as ``genweave kube export`` writes them;
Kubernetes answers that name with the addresses of the pods whose readiness
probe passes.  The short name goes through the system resolver
(``loop.getaddrinfo``), so ``resolv.conf``'s search domains complete it as in
any pod; every replica serves calls on the same port (``--peer-port``, 7070).

Names are resolved again every ``RESOLVE_INTERVAL`` seconds, and at once when
a connection to one of their addresses fails.  An answer that the name does
not exist (a Service with no ready pod) empties the group; a failure to get an
answer (a timeout, a resolver down) keeps the last one.  So a replica leaves a
caller's set at the caller's first failed connection to it, and otherwise
within ``RESOLVE_INTERVAL`` of Kubernetes dropping it from the Service (a
draining replica's ``/readyz`` answers 503 from the moment it is told to stop).

Example::

    discovery = DnsDiscovery("assistant", "core/10.1.2.3:7070", topology)
    await discovery.start()   # resolves assistant-core, assistant-model, ... every 2 s
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Final

from genweave.runtime.discovery.base import Discovery
from genweave.runtime.membership import MembershipView, group_splits
from genweave.topology import Topology

__all__ = [
    "DEFAULT_PEER_PORT",
    "RESOLVE_INTERVAL",
    "DnsDiscovery",
    "Resolver",
    "answer_addresses",
    "service_name",
    "system_resolver",
]

RESOLVE_INTERVAL: Final = 2.0
"""Seconds between two resolutions of every group's name."""
DEFAULT_PEER_PORT: Final = 7070
"""The port every replica serves calls on (the worker's ``--listen tcp:0.0.0.0:7070``)."""
_NO_SUCH_NAME: Final = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None)

Resolver = Callable[[str], Awaitable[list[str]]]
"""A name -> its IP addresses; raises ``socket.gaierror`` as ``getaddrinfo`` does."""

logger = logging.getLogger("genweave.discovery")


def service_name(app: str, group: str, variant: str | None = None) -> str:
    """A group's headless Service (or a variant's): ``<app>-<group>[-<variant>]``."""
    return "-".join([app, group] + ([variant] if variant else []))


async def system_resolver(name: str) -> list[str]:
    """The name's IPv4 addresses from the system resolver (``/etc/resolv.conf``, search domains)."""
    infos = await asyncio.get_running_loop().getaddrinfo(name, None, family=socket.AF_INET,
                                                         type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def answer_addresses(previous: list[str], answer: list[str] | BaseException,
                     port: int) -> list[str]:
    """A group's addresses after one resolution: the rule, apart from the resolver.

    The answer's addresses at ``port``; none when the name does not exist; the
    ``previous`` ones when no answer came (the resolver failed or timed out).
    """
    if _no_such_name(answer):
        return []
    if isinstance(answer, BaseException):
        return previous
    return [f"tcp:{ip}:{port}" for ip in sorted(set(answer))]


def _no_such_name(answer: object) -> bool:
    return isinstance(answer, socket.gaierror) and answer.errno in _NO_SUCH_NAME


class DnsDiscovery(Discovery):
    """Each group's replicas from its headless Service's name (see the module docstring)."""

    log_changes = True

    def __init__(self, app: str, caller: str, topology: Topology, *,
                 peer_port: int = DEFAULT_PEER_PORT, interval: float = RESOLVE_INTERVAL,
                 resolver: Resolver = system_resolver, **options: float) -> None:
        super().__init__(app, caller, **options)
        self.topology = topology
        self.peer_port = peer_port
        self.interval = interval
        self._resolver = resolver
        self._resolved: dict[str, list[str]] = {}
        self._failing: set[str] = set()
        self._soon = asyncio.Event()
        self._resolving: asyncio.Task[None] | None = None

    def names(self) -> list[str]:
        """Every name this discovery resolves: one per group and per variant."""
        names = []
        for group in self.topology.groups:
            names.append(service_name(self.app, group.name))
            names += [service_name(self.app, group.name, v.name) for v in group.variants]
        return names

    async def start(self, on_lost: Callable[[], None] = lambda: None) -> None:
        await super().start(on_lost)
        self._resolving = asyncio.create_task(self._resolve_forever())

    def refresh(self) -> None:
        self._soon.set()

    async def resolve(self) -> None:
        """Resolve every name once and publish the result."""
        names = self.names()
        answers = await asyncio.gather(*(self._resolver(name) for name in names),
                                       return_exceptions=True)
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                raise answer  # cancellation, not an answer
            self._note_failure(name, answer)
            self._resolved[name] = answer_addresses(self._resolved.get(name, []), answer,
                                                   self.peer_port)
        self.listed(self.view())

    def view(self) -> MembershipView:
        """The groups' addresses as last resolved."""
        def addresses(group: str, variant: str | None = None) -> list[str]:
            return self._resolved.get(service_name(self.app, group, variant), [])

        groups = {g.name: addresses(g.name) for g in self.topology.groups}
        splits = {g.name: group_splits(g, groups[g.name], functools.partial(addresses, g.name))
                  for g in self.topology.groups if g.variants}
        return MembershipView(0, groups, [], splits)

    def _note_failure(self, name: str, answer: list[str] | BaseException) -> None:
        """Log a name's resolution failing (once, not every interval) and recovering."""
        failed = isinstance(answer, BaseException) and not _no_such_name(answer)
        if failed and name not in self._failing:
            self._failing.add(name)
            logger.warning("cannot resolve %s (%s); keeping its last addresses", name, answer)
        elif not failed and name in self._failing:
            self._failing.discard(name)
            logger.info("%s resolves again", name)

    async def _resolve_forever(self) -> None:
        while True:
            self._soon.clear()
            await self.resolve()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._soon.wait()

    async def close(self) -> None:
        if self._resolving is not None:
            self._resolving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resolving
        await super().close()
