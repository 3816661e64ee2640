"""The one rule of who may call whom, and who a caller is, tested as plain functions."""

from __future__ import annotations

import pytest
from examples.hello import app as hello

from genweave import App, PermissionDenied, Ref, component
from genweave.runtime.authorization import (
    ADMIN,
    CONTROL,
    allowed_callers,
    callee_grants,
    granted_calls,
    identity_of,
    proven_identity,
)
from genweave.runtime.introspect import Runtime
from genweave.topology import Group, Topology, preset
from genweave.transport.peer import Peer
from genweave.transport.tls import identity_uri

OWNER = 1000


@component
class Store:
    async def get(self) -> str:
        return "value"


@component
class Api:
    store: Ref[Store]

    async def read(self) -> str:
        return await self.store.get()


@component
class Console:
    runtime: Runtime

    async def show(self) -> int:
        return len((await self.runtime.status()).replicas)


APP = App("shop", [Api, Console])
SPLIT = Topology("t", (Group("api", ("Api",)), Group("store", ("Store",)),
                       Group("console", ("Console",))))


def test_a_call_is_granted_to_the_groups_whose_components_declare_the_ref() -> None:
    grants = granted_calls(APP, SPLIT)
    assert ("api", "Store") in grants
    assert ("console", "Store") not in grants
    assert ("store", "Api") not in grants  # a Ref points one way


def test_a_runtime_holder_may_call_admin_and_nothing_else() -> None:
    grants = granted_calls(APP, SPLIT)
    assert ("console", ADMIN) in grants
    assert not {g for g in grants if g[0] == "console" and g[1] != ADMIN}


def test_calls_inside_one_group_are_direct_so_not_granted_over_the_network() -> None:
    together = Topology("t", (Group("main", ("Api", "Store")), Group("console", ("Console",))))
    assert ("main", "Store") not in granted_calls(APP, together)


def test_the_group_view_for_network_policies_is_the_same_rule() -> None:
    assert allowed_callers(APP, SPLIT) == {"api": ("console",), "store": ("api", "console"),
                                           "console": ("console",)}
    assert allowed_callers(hello, preset("microservices", hello))["greeter"] == ("frontend",)


def test_a_replica_takes_its_own_share_and_the_control_identity() -> None:
    mine = callee_grants(granted_calls(APP, SPLIT), ("Store", ADMIN))
    assert mine == {("api", "Store"), ("console", ADMIN), (CONTROL, "Store"), (CONTROL, ADMIN)}


@pytest.mark.parametrize(("caller", "identity"), [
    ("api/0", "api"), ("api/10.0.0.7:7070", "api"), ("client", CONTROL), ("supervisor", CONTROL),
])
def test_the_identity_claimed_is_the_group_of_the_replica(caller: str, identity: str) -> None:
    assert identity_of(caller) == identity


def test_a_unix_peer_of_the_owner_is_taken_at_its_word() -> None:
    assert proven_identity("shop", "api/0", Peer("unix", uid=OWNER, pid=1), OWNER) == "api"


def test_a_unix_peer_running_as_another_user_is_refused() -> None:
    with pytest.raises(PermissionDenied, match="uid 1001 .* only uid 1000"):
        proven_identity("shop", "api/0", Peer("unix", uid=1001, pid=1), OWNER)


def test_a_certificate_proves_the_identity_and_must_agree_with_the_handshake() -> None:
    peer = Peer("10.0.0.7:5000", certificate_uris=(identity_uri("shop", "api"),), tls=True)
    assert proven_identity("shop", "api/3", peer, OWNER) == "api"
    with pytest.raises(PermissionDenied, match="says it is 'store/0' but its certificate proves"):
        proven_identity("shop", "store/0", peer, OWNER)
    with pytest.raises(PermissionDenied, match="says it is 'client'"):
        proven_identity("shop", "client", peer, OWNER)


def test_a_certificate_of_another_app_is_refused() -> None:
    peer = Peer("10.0.0.7:5000", certificate_uris=(identity_uri("other", "api"),), tls=True)
    with pytest.raises(PermissionDenied, match="not an identity of app 'shop'"):
        proven_identity("shop", "api/0", peer, OWNER)
