"""Pure rules for reading requests: how long a body may take, whose read gives way.

No I/O and no clock of their own: the caller passes the times, so tests use
plain numbers.  :mod:`genweave.gateway.body` acts on them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["BodyPace", "OldestFirst"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class BodyPace:
    """A body must arrive within ``timeout`` seconds, plus one second per ``min_rate`` bytes.

    Apache's ``mod_reqtimeout`` rule (``body=20,MinRate=500``): a large body at a
    fair rate is never cut, while a client trickling a byte now and then runs
    out of time after ``timeout`` seconds, however long it keeps trickling.

    Example::

        pace = BodyPace(timeout=10.0, min_rate=1024)
        pace.deadline(started=100.0, received=2048)   # 112.0: 2 KiB bought 2 s
    """

    timeout: float
    min_rate: float

    def deadline(self, started: float, received: int) -> float:
        """When the read fails unless more of the body comes, for ``received`` bytes so far."""
        return started + self.timeout + received / self.min_rate


@dataclass(slots=True)
class OldestFirst(Generic[K]):
    """At most ``capacity`` holders; a newcomer past it displaces the one held longest.

    For requests whose bodies are still arriving: a new request is never refused
    a place, the one reading longest gives way instead.  A well-behaved body
    takes milliseconds, a slow sender's seconds, so under a flood of slow
    senders it is always one of theirs that goes.

    Example::

        slots = OldestFirst[str](capacity=2)
        slots.take("a"), slots.take("b")   # (None, None)
        slots.take("c")                    # "a": it gives way
    """

    capacity: int
    _held: dict[K, None] = field(default_factory=dict)
    """Insertion order is the order of arrival: the first key is the oldest."""

    def take(self, key: K) -> K | None:
        """Hold a place for ``key``; return the key displaced to make room, if any."""
        displaced = None
        if len(self._held) >= self.capacity:
            displaced = next(iter(self._held))
            del self._held[displaced]
        self._held[key] = None
        return displaced

    def release(self, key: K) -> None:
        """``key`` is done (or was displaced): forget it."""
        self._held.pop(key, None)

    def __len__(self) -> int:
        return len(self._held)
