"""Variant selection for a group that runs an experiment: weighted, sticky picks and shadows.

Each call goes to one variant, chosen by weight at a point derived from the
caller's ``user`` (or API key) metadata, so that one user always lands on the
same variant.  Each shadow variant gets a copy of a sample of calls (``weight``
percent); a copy's result is counted and discarded, and its failure is never
seen by the caller.  Calls per variant are counted on the caller's side.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from contextlib import aclosing
from typing import Any, Final

import msgspec

from genweave.errors import CallError
from genweave.observe.metrics import REGISTRY
from genweave.resilience import RetryPolicy
from genweave.runtime.membership import Split
from genweave.runtime.outgoing import OutgoingCall

__all__ = ["SHADOW_LIMIT", "STICKY_KEYS", "Variants", "pick", "shadow_variants"]

SHADOW_LIMIT: Final = 64
"""Shadow copies in flight per router; beyond it copies are skipped, never queued."""
STICKY_KEYS: Final = ("user", "api_key")
"""Call metadata that keeps a caller on one variant, in order of preference."""
_NO_RETRY: Final = RetryPolicy(attempts=1)


def pick(splits: Sequence[Split], group: str, meta: dict[str, str]) -> str:
    """The variant of ``group`` that serves a caller with this metadata.

    A variant without ready replicas sends its share to the primary (the first split).
    """
    point = _sticky_point(group, meta)
    total = 0.0
    for split in splits:
        if split.shadow:
            continue
        total += split.weight
        if point < total:
            return split.variant if split.addresses else splits[0].variant
    return splits[0].variant


def shadow_variants(splits: Sequence[Split]) -> list[str]:
    """The shadow variants that get a copy of this call (each copies ``weight``% of calls)."""
    return [s.variant for s in splits
            if s.shadow and s.addresses and random.uniform(0, 100) < s.weight]


def _sticky_point(group: str, meta: dict[str, str]) -> float:
    """A point in [0, 100): the same for every call of one user, random without one."""
    for key in STICKY_KEYS:
        who = meta.get(key)
        if who:
            digest = hashlib.blake2b(f"{group}\0{who}".encode(), digest_size=8).digest()
            return int.from_bytes(digest) / 2**64 * 100
    return random.uniform(0, 100)


class Variants:
    """Sends calls to the variants of a group through ``send`` and ``stream``.

    ``send`` and ``stream`` route one call to a replica of ``call.variant`` (the
    router's own retry loop); this layer only chooses the variant, copies
    shadows, and counts each variant's calls.
    """

    def __init__(self, send: Callable[[OutgoingCall], Awaitable[Any]],
                 stream: Callable[[OutgoingCall], AsyncGenerator[Any, None]]) -> None:
        self._send = send
        self._stream = stream
        self._shadows: set[asyncio.Task[None]] = set()

    async def call(self, call: OutgoingCall, splits: Sequence[Split]) -> Any:
        """One unary call to the variant chosen for it."""
        self._choose(call, splits)
        stats = REGISTRY.variant(call.group, call.variant or "")
        start, ok = time.perf_counter(), False
        try:
            result = await self._send(call)
            ok = True
            return result
        finally:
            stats.record(time.perf_counter() - start, ok)

    async def stream(self, call: OutgoingCall,
                     splits: Sequence[Split]) -> AsyncGenerator[Any, None]:
        """One streaming call to the variant chosen for it."""
        self._choose(call, splits)
        stats = REGISTRY.variant(call.group, call.variant or "")
        start, ok = time.perf_counter(), False
        try:
            async with aclosing(self._stream(call)) as items:
                async for item in items:
                    yield item
            ok = True
        finally:
            stats.record(time.perf_counter() - start, ok)

    def _choose(self, call: OutgoingCall, splits: Sequence[Split]) -> None:
        """Set the variant that serves ``call``; shadow variants get their copies now."""
        for shadow in shadow_variants(splits):
            self._spawn(self._shadow(msgspec.structs.replace(call, variant=shadow,
                                                             retry=_NO_RETRY)))
        call.variant = pick(splits, call.group, call.meta)

    async def _shadow(self, copy: OutgoingCall) -> None:
        stats = REGISTRY.variant(copy.group, copy.variant or "")
        start, ok = time.perf_counter(), False
        try:
            if copy.spec.stream:
                async with aclosing(self._stream(copy)) as items:
                    async for _ in items:
                        pass
            else:
                await self._send(copy)
            ok = True
        except CallError:
            pass  # a shadow's failure is counted, never seen by the caller
        finally:
            stats.record(time.perf_counter() - start, ok)

    def _spawn(self, copy: Coroutine[Any, Any, None]) -> None:
        if len(self._shadows) >= SHADOW_LIMIT:
            copy.close()
            return
        task = asyncio.ensure_future(copy)
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    def close(self) -> None:
        """Cancel the shadow copies still in flight."""
        for task in list(self._shadows):
            task.cancel()
