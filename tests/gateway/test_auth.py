"""API keys and per-key token buckets."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from genweave.gateway.auth import ANONYMOUS, ApiKey, KeyRing, TokenBucket
from genweave.gateway.errors import APIError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_keys_means_open_access() -> None:
    assert KeyRing([]).authenticate(None) == ANONYMOUS


@pytest.mark.parametrize(("header", "message"), [
    (None, "Missing API key"),
    ("Basic abc", "Missing API key"),
    ("Bearer sk-wrong", "Incorrect API key provided."),
])
def test_missing_or_wrong_keys_are_401_and_never_echoed(header: str | None,
                                                        message: str) -> None:
    ring = KeyRing([ApiKey(name="alice", key="sk-alice")])
    with pytest.raises(APIError) as caught:
        ring.authenticate(header)
    assert caught.value.status == HTTPStatus.UNAUTHORIZED
    assert caught.value.message.startswith(message)
    assert "sk-" not in caught.value.message


def test_rate_limit_is_per_key_with_retry_after() -> None:
    clock = Clock()
    ring = KeyRing([ApiKey(name="alice", key="sk-a", requests_per_minute=2),
                    ApiKey(name="bob", key="sk-b")], clock=clock)
    assert ring.authenticate("Bearer sk-a") == "alice"
    assert ring.authenticate("bearer sk-a") == "alice"
    with pytest.raises(APIError) as caught:
        ring.authenticate("Bearer sk-a")
    assert caught.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert caught.value.headers == {"Retry-After": "30"}
    assert all(ring.authenticate("Bearer sk-b") == "bob" for _ in range(10))
    clock.now += 30
    assert ring.authenticate("Bearer sk-a") == "alice"


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_KEY", "sk-from-env")
    key = ApiKey(name="alice", key_env="ALICE_KEY")
    assert KeyRing([key]).authenticate("Bearer sk-from-env") == "alice"
    assert "sk-from-env" not in repr(key)
    monkeypatch.delenv("ALICE_KEY")
    with pytest.raises(ValueError, match="environment variable ALICE_KEY is empty"):
        KeyRing([key])


def test_token_bucket_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(60, clock)
    assert all(bucket.take() == 0 for _ in range(60))
    assert bucket.take() == pytest.approx(1.0)
    clock.now += 1
    assert bucket.take() == 0
