"""The membership registry of a Ray deployment: one named actor every replica follows.

Each replica tells it ``joined`` once it serves (and again after Ray restarts
it, at its new address) and ``leaving`` when it drains; every replica and the
driver long-poll ``next_view`` and hand each view to their discovery.  The
registry only keeps the table: the rule of who a caller sends calls to (a
failed connection takes an address out at once) stays each caller's own
(``genweave.runtime.discovery``).

Example::

    registry = Registry(["core", "model"])
    await registry.joined("model", 0, "tcp:10.0.0.3:41000")
    await registry.view()   # JSON of MembershipView(1, {"core": [], "model": ["tcp:..."]})
"""

from __future__ import annotations

import msgspec

from genweave.runtime.membership import Membership, MembershipView

__all__ = ["Registry", "decode_view"]


def decode_view(raw: bytes) -> MembershipView:
    """A view as the registry sends it."""
    return msgspec.json.decode(raw, type=MembershipView)


class Registry:
    """Group -> replica number -> address, published as versioned views (a Ray actor's body)."""

    def __init__(self, groups: list[str]) -> None:
        self._replicas: dict[str, dict[int, str]] = {group: {} for group in groups}
        self._membership = Membership()
        self._publish()

    async def joined(self, group: str, replica: int, address: str) -> None:
        """Replica ``replica`` of ``group`` serves at ``address`` (a restart replaces it)."""
        self._replicas.setdefault(group, {})[replica] = address
        self._publish()

    async def leaving(self, group: str, replica: int) -> None:
        """Replica ``replica`` of ``group`` drains: callers stop sending it calls."""
        if self._replicas.get(group, {}).pop(replica, None) is not None:
            self._publish()

    async def view(self) -> bytes:
        """The current view."""
        return msgspec.json.encode(self._membership.snapshot())

    async def next_view(self, after: int) -> bytes:
        """The first view whose version is above ``after`` (waits for a change)."""
        return msgspec.json.encode(await self._membership.next_view(after))

    def _publish(self) -> None:
        groups = {group: [replicas[i] for i in sorted(replicas)]
                  for group, replicas in self._replicas.items()}
        self._membership.update(MembershipView(self._membership.version + 1, groups))
