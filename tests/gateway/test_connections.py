"""The server's count of open connections per peer, and how a request's scope carries it."""

from __future__ import annotations

from genweave.gateway.connections import (
    EXTENSION,
    ConnectionCount,
    ConnectionTable,
    connection_count,
)


def test_connections_are_counted_per_peer_and_in_all() -> None:
    table = ConnectionTable()
    for peer in ("a", "a", "b"):
        table.opened(peer)
    assert table.count("a") == ConnectionCount(open=3, from_peer=2)
    assert table.count("c") == ConnectionCount(open=3, from_peer=0)
    table.closed("a")
    table.closed("b")
    assert table.count("b") == ConnectionCount(open=1, from_peer=0)
    assert "b" not in table._by_peer  # an address that left takes no memory


def test_a_scope_without_counts_has_none() -> None:
    count = ConnectionCount(open=1, from_peer=1)
    assert connection_count({"type": "http", "extensions": {EXTENSION: count}}) is count
    assert connection_count({"type": "http"}) is None
    assert connection_count({"type": "http", "extensions": {EXTENSION: "forged"}}) is None
