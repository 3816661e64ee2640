"""Who may call whom follows the Ref graph: callers' groups, fallbacks, and Runtime holders."""

from __future__ import annotations

import pytest
from examples.hello import app as hello

from genweave import App, Ref, component
from genweave.app import app as reference
from genweave.deploy.kubernetes.access import allowed_callers
from genweave.resilience import FallbackSettings, RefPolicy
from genweave.runtime.introspect import Runtime
from genweave.topology import Group, Topology, preset


@component
class Spare:
    async def work(self) -> str:
        return "spare"


@component
class Worker:
    async def work(self) -> str:
        return "worker"


@component
class Boss:
    worker: Ref[Worker]

    async def run(self) -> str:
        return await self.worker.work()


@component
class Dashboard:
    runtime: Runtime

    async def show(self) -> int:
        return len((await self.runtime.status()).replicas)


APP = App("office", [Boss, Spare, Dashboard])


def split(*groups: tuple[str, ...]) -> Topology:
    return Topology("t", tuple(Group(names[0].lower(), names) for names in groups))


def test_a_group_accepts_the_groups_that_hold_refs_to_it() -> None:
    assert allowed_callers(hello, preset("microservices", hello)) == {
        "counter": ("frontend",), "frontend": (), "greeter": ("frontend",)}
    assert allowed_callers(hello, preset("monolith", hello)) == {"main": ()}  # direct calls
    assert allowed_callers(hello, preset("hybrid", hello)) == {"core": (), "greeter": ("core",)}


def test_a_fallback_component_is_called_by_the_refs_callers() -> None:
    topology = split(("Boss",), ("Worker",), ("Spare",), ("Dashboard",))
    plain = allowed_callers(APP, topology)
    assert plain["spare"] == ("dashboard",)  # only the Runtime holder
    policy = RefPolicy(fallback=FallbackSettings(component="Spare"))
    for key in ("Worker", "Boss.worker"):
        covered = Topology("t", topology.groups, refs={key: policy})
        assert allowed_callers(APP, covered)["spare"] == ("boss", "dashboard")


def test_a_runtime_holder_reaches_every_group_even_its_own_replicas() -> None:
    callers = allowed_callers(APP, split(("Boss",), ("Worker",), ("Spare",), ("Dashboard",)))
    assert callers == {"boss": ("dashboard",), "worker": ("boss", "dashboard"),
                       "spare": ("dashboard",), "dashboard": ("dashboard",)}


@pytest.mark.parametrize("name", ["microservices", "hybrid", "monolith"])
def test_the_reference_apps_gateway_reaches_every_group(name: str) -> None:
    topology = preset(name, reference)
    gateway = topology.group_of("Gateway").name
    assert all(gateway in callers for callers in allowed_callers(reference, topology).values())
