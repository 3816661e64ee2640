"""Which replicas are ready: versioned views, variants, and waiting for a replica to appear."""

from __future__ import annotations

import asyncio

from genweave.runtime.membership import (
    PRIMARY,
    Membership,
    MembershipView,
    Split,
    replica_addresses,
)

SPLITS = {"model": [Split(PRIMARY, 90.0, ["unix:/m0"]), Split("canary", 10.0, ["unix:/c0"])]}


def test_endpoints_of_a_group_and_of_its_variants() -> None:
    membership = Membership()
    membership.update(MembershipView(1, {"model": ["unix:/m0"]}, [], SPLITS))
    assert membership.endpoints("model") == ("unix:/m0",)
    assert membership.endpoints("model", PRIMARY) == ("unix:/m0",)
    assert membership.endpoints("model", "canary") == ("unix:/c0",)
    assert membership.endpoints("model", "gone") == ()
    assert membership.endpoints("other") == ()


def test_an_older_view_never_replaces_a_newer_one() -> None:
    membership = Membership()
    membership.update(MembershipView(2, {"model": ["unix:/new"]}))
    membership.update(MembershipView(1, {"model": ["unix:/old"]}))
    assert membership.endpoints("model") == ("unix:/new",) and membership.version == 2


def test_a_snapshot_is_the_view_it_was_given() -> None:
    membership = Membership()
    view = MembershipView(3, {"model": ["unix:/m0"]}, ["batch"], SPLITS)
    membership.update(view)
    assert membership.snapshot() == view
    assert membership.down == frozenset({"batch"})


def test_every_ready_replica_counts_variants_once() -> None:
    membership = Membership({"front": ["unix:/f0"]})
    membership.update(MembershipView(1, {"front": ["unix:/f0"], "model": ["unix:/m0"]}, [],
                                     SPLITS))
    assert sorted(replica_addresses(membership)) == ["unix:/c0", "unix:/f0", "unix:/m0"]


async def test_a_caller_waits_for_the_next_view() -> None:
    membership = Membership()
    waiting = asyncio.ensure_future(membership.next_view(after=0))
    await asyncio.sleep(0)
    assert not waiting.done()
    membership.update(MembershipView(1, {"model": ["unix:/m0"]}))
    assert (await waiting).version == 1


async def test_waiting_for_a_replica_ends_when_one_is_ready() -> None:
    membership = Membership()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, membership.update, MembershipView(1, {"model": ["unix:/m0"]}))
    start = loop.time()
    assert await membership.wait_for("model", timeout=5.0) == ("unix:/m0",)
    assert loop.time() - start < 1.0


async def test_waiting_for_a_replica_gives_up_after_its_timeout() -> None:
    membership = Membership()
    membership.update(MembershipView(1, {"front": ["unix:/f0"]}))  # another group appears
    assert await membership.wait_for("model", timeout=0.05) == ()
