"""Start and stop order: callers stop before the groups they call, and start after them."""

from __future__ import annotations

from sample_app import app

from genweave import App, Ref, component
from genweave.deploy.ordering import caller_waves, start_order
from genweave.topology import preset


def test_callers_stop_before_callees() -> None:
    assert caller_waves(app, preset("microservices", app)) == [["front"], ["store"], ["model"]]
    assert caller_waves(app, preset("hybrid", app)) == [["core"], ["model"]]
    assert caller_waves(app, preset("monolith", app)) == [["main"]]


def test_callees_start_first() -> None:
    assert start_order(app, preset("microservices", app)) == ["model", "store", "front"]


@component
class Ping:
    pong: Ref[Pong]

    async def ping(self) -> str:
        return "ping"


@component
class Pong:
    ping: Ref[Ping]

    async def pong(self) -> str:
        return "pong"


@component
class Caller:
    ping: Ref[Ping]

    async def call(self) -> str:
        return "call"


def test_groups_that_call_each_other_share_one_wave() -> None:
    cycle = App("cycle", [Caller])
    assert caller_waves(cycle, preset("microservices", cycle)) == [["caller", "ping", "pong"]]
