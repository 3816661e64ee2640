"""API keys and per-key rate limits.

Keys come from the app's config; only a key's *name* is ever logged or shown.
Limits are token buckets per key and per gateway replica.

Example::

    ring = KeyRing([ApiKey(key="sk-1", name="alice", requests_per_minute=60)])
    identity = ring.authenticate("Bearer sk-1")   # -> "alice", or APIError 401/429
"""

from __future__ import annotations

import hmac
import math
import os
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Final

import msgspec

from genweave.gateway.errors import APIError

__all__ = ["ANONYMOUS", "ApiKey", "KeyRing", "TokenBucket"]

ANONYMOUS: Final = "anonymous"
_BEARER: Final = "bearer "


class ApiKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One client's key: the secret itself, or ``key_env`` naming an environment variable."""

    name: str
    key: str = ""
    key_env: str = ""
    requests_per_minute: float | None = None

    def secret(self) -> str:
        value = os.environ.get(self.key_env, "") if self.key_env else self.key
        if not value:
            source = f"environment variable {self.key_env}" if self.key_env else "'key'"
            raise ValueError(f"API key '{self.name}': {source} is empty")
        return value

    def __repr__(self) -> str:  # never show the secret
        return f"ApiKey(name={self.name!r}, requests_per_minute={self.requests_per_minute!r})"


class TokenBucket:
    """``rate`` requests per minute on average, bursts up to the same number."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(1.0, per_minute)
        self.refill = per_minute / 60.0
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()

    def take(self) -> float:
        """Take a token; return 0 if granted, else seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill if self.refill > 0 else math.inf


class KeyRing:
    """Checks ``Authorization`` headers; with no keys configured, everyone is anonymous."""

    def __init__(self, keys: Sequence[ApiKey],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = [(key.secret().encode(), key) for key in keys]
        self._buckets = {
            key.name: TokenBucket(key.requests_per_minute, clock)
            for key in keys if key.requests_per_minute is not None
        }

    @property
    def open(self) -> bool:
        return not self._keys

    def authenticate(self, header: str | None, metered: bool = True) -> str:
        """The key's name, or ``APIError`` 401 (no or wrong key) / 429 (over its limit).

        ``metered=False`` checks the key without spending its rate limit (status polling).
        """
        if self.open:
            return ANONYMOUS
        if not header or not header.lower().startswith(_BEARER):
            raise APIError(HTTPStatus.UNAUTHORIZED, "Missing API key: send 'Authorization: "
                           "Bearer YOUR_KEY'.", code="invalid_api_key")
        given = header[len(_BEARER):].strip().encode()
        # Compare against every key in constant time: no timing hint about which is close.
        match = None
        for secret, key in self._keys:
            if hmac.compare_digest(secret, given):
                match = key
        if match is None:
            raise APIError(HTTPStatus.UNAUTHORIZED, "Incorrect API key provided.",
                           code="invalid_api_key")
        bucket = self._buckets.get(match.name) if metered else None
        if bucket is not None:
            wait = bucket.take()
            if wait > 0:
                raise APIError(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    f"Rate limit of {match.requests_per_minute:g} requests per minute reached "
                    f"for key '{match.name}'; retry in {wait:.1f}s.",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        return match.name
