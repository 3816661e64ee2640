"""Who is in a caller's set: the pure rule, driven by a fake clock."""

from __future__ import annotations

from genweave.runtime.discovery.roster import PROBE_INTERVAL, Roster, listed_addresses, without
from genweave.runtime.membership import PRIMARY, MembershipView, Split

A, B, C = "tcp:10.0.0.2:7070", "tcp:10.0.0.3:7070", "tcp:10.0.0.4:7070"


def test_a_failed_connection_takes_an_address_out_at_once() -> None:
    roster = Roster()
    roster.listed([A, B])
    assert roster.failed(B, now=100.0)
    assert roster.out == {B}
    assert not roster.failed(B, now=100.5)  # already out: nothing changes
    assert not roster.failed(C, now=100.0)  # not listed: nothing to take out


def test_an_address_that_is_out_is_probed_every_interval_until_it_answers() -> None:
    roster = Roster()
    roster.listed([A, B])
    roster.failed(B, now=100.0)
    assert roster.next_probe() == 100.0 + PROBE_INTERVAL
    assert roster.due(now=100.0 + PROBE_INTERVAL / 2) == []
    assert roster.due(now=100.0 + PROBE_INTERVAL) == [B]
    assert not roster.probed(B, ok=False, now=101.0)  # still silent: probed again later
    assert roster.due(now=101.5) == [] and roster.next_probe() == 101.0 + PROBE_INTERVAL
    assert roster.probed(B, ok=True, now=102.0)  # it answers: back in the set
    assert roster.out == frozenset() and roster.next_probe() is None
    assert not roster.probed(B, ok=True, now=102.5)  # a late probe changes nothing


def test_discovery_dropping_an_address_forgets_it_and_listing_it_again_brings_it_back() -> None:
    roster = Roster()
    roster.listed([A, B])
    roster.failed(B, now=100.0)
    assert not roster.listed([A, B])  # listed again without a pause: still out
    assert roster.out == {B}
    assert roster.listed([A])  # the source dropped it (the replica is gone): forgotten
    assert roster.out == frozenset()
    roster.listed([A, B])  # a new replica at the same address: in from the start
    assert roster.out == frozenset()


def test_the_probe_interval_is_the_rosters_own() -> None:
    roster = Roster(probe_interval=0.25)
    roster.listed([A])
    roster.failed(A, now=10.0)
    assert roster.due(now=10.25) == [A]


def test_a_view_without_the_addresses_that_are_out_keeps_everything_else() -> None:
    view = MembershipView(7, {"model": [A, B], "core": [C]}, ["search"],
                          {"model": [Split(PRIMARY, 90.0, [A, B]), Split("canary", 10.0, [C])]})
    assert listed_addresses(view) == {A, B, C}
    seen = without(view, frozenset({B, C}), version=3)
    assert seen.version == 3
    assert seen.groups == {"model": [A], "core": []}
    assert seen.down == ["search"]
    assert [s.addresses for s in seen.splits["model"]] == [[A], []]
    assert [s.weight for s in seen.splits["model"]] == [90.0, 10.0]
    assert without(view, frozenset(), version=8) == MembershipView(
        8, view.groups, view.down, view.splits)
