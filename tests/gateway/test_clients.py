"""The pure rules about clients: who a request comes from, what one client may hold."""

from __future__ import annotations

import pytest

from genweave.gateway.clients import (
    ClientCounts,
    ConnectionVerdict,
    TrustedProxies,
    connection_verdict,
)
from genweave.gateway.limits import UNLIMITED, HttpLimits

PROXIES = TrustedProxies(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"])


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("198.51.100.1", ["203.0.113.9"], "198.51.100.1"),  # not a proxy: its header is its claim
    ("10.0.0.7", ["203.0.113.9"], "203.0.113.9"),
    ("10.0.0.7", ["203.0.113.9, 10.0.0.3"], "203.0.113.9"),  # two proxies deep
    ("10.0.0.7", ["1.1.1.1, 203.0.113.9"], "203.0.113.9"),  # a forged hop on the left
    ("10.0.0.7", ["1.1.1.1", "203.0.113.9"], "203.0.113.9"),  # two header lines, in order
    ("192.0.2.7", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),  # every hop trusted: the leftmost
    ("10.0.0.7", [], "10.0.0.7"),  # the proxy speaking for itself
    ("10.0.0.7", [" , "], "10.0.0.7"),
    ("2001:db8::1", ["2001:db9::5"], "2001:db9::5"),
    ("10.0.0.7", ["not-an-address"], "not-an-address"),  # untrusted, kept as the key
])
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    peer: str, forwarded: list[str], client: str,
) -> None:
    assert PROXIES.client_of(peer, forwarded) == client


def test_without_proxies_the_header_is_never_believed() -> None:
    nobody = TrustedProxies([])
    assert not nobody
    assert nobody.client_of("127.0.0.1", ["203.0.113.9"]) == "127.0.0.1"
    assert not nobody.trusts("127.0.0.1")


def test_names_and_garbage_are_never_proxies() -> None:
    assert PROXIES.trusts("10.1.2.3") and not PROXIES.trusts("11.0.0.1")
    assert not PROXIES.trusts("proxy.internal") and not PROXIES.trusts("")


def test_counts_hold_each_client_to_the_bound_and_forget_clients_that_left() -> None:
    counts = ClientCounts(limit=2)
    assert [counts.take("a") for _ in range(3)] == [True, True, False]
    assert counts.take("b")
    counts.release("a")
    assert counts.held("a") == 1 and counts.take("a")
    for _ in range(2):
        counts.release("a")
    counts.release("b")
    assert counts.held("a") == 0 and not counts._held


def test_an_unlimited_count_never_refuses() -> None:
    counts = ClientCounts(limit=UNLIMITED)
    assert all(counts.take("a") for _ in range(10_000))


LIMITS = HttpLimits(max_connections=100, max_connections_per_client=10)


@pytest.mark.parametrize(("open_connections", "from_peer", "proxy", "verdict"), [
    (100, 10, False, ConnectionVerdict.SERVE),  # the request's own connection included
    (101, 1, False, ConnectionVerdict.TOO_MANY),
    (101, 1, True, ConnectionVerdict.TOO_MANY),  # the total binds proxies too
    (50, 11, False, ConnectionVerdict.TOO_MANY_FROM_CLIENT),
    (50, 50, True, ConnectionVerdict.SERVE),  # a proxy carries many clients
])
def test_connection_verdicts(open_connections: int, from_peer: int, proxy: bool,
                             verdict: ConnectionVerdict) -> None:
    assert connection_verdict(LIMITS, open_connections, from_peer, proxy) is verdict


def test_no_bound_per_client_when_it_is_off() -> None:
    limits = HttpLimits(max_connections_per_client=UNLIMITED)
    assert connection_verdict(limits, 10, 10, False) is ConnectionVerdict.SERVE
