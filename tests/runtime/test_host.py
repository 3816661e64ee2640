"""A host: creates its components, wires their Refs, runs their hooks, and serves them."""

from __future__ import annotations

import logging

import pytest

from genweave import App, InterfaceMismatch, Ref, component
from genweave.component import ComponentSpec, spec_of
from genweave.resilience import CircuitSettings, RefPolicy, RetryPolicy
from genweave.runtime.callee import Callee
from genweave.runtime.host import Host
from genweave.runtime.introspect import Admin, LocalRuntime, ReplicaLoad, Runtime
from genweave.runtime.refs import ComponentProxy
from genweave.topology import preset
from genweave.transport.client import ClientConnection
from genweave.transport.memory import connect_pair
from genweave.transport.server import ServerConnection

EVENTS: list[str] = []


@component
class Store:
    async def on_start(self) -> None:
        EVENTS.append("start Store")

    async def on_stop(self) -> None:
        EVENTS.append("stop Store")
        raise RuntimeError("the disk is gone")

    async def get(self, key: str) -> str:
        return key.upper()


@component
class Model:
    async def run(self, text: str) -> str:
        return text


@component
class Front:
    store: Ref[Store]
    model: Ref[Model]
    runtime: Runtime

    async def on_start(self) -> None:
        EVENTS.append("start Front")

    async def on_stop(self) -> None:
        EVENTS.append("stop Front")

    async def ask(self, key: str) -> str:
        return await self.store.get(key)


APP = App("host-test", [Store, Model, Front])


class RemoteRecorder:
    """The factory a host uses for Refs outside it: records what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, float | None, RetryPolicy | None]] = []

    def __call__(self, target: ComponentSpec, caller: str, timeout: float | None,
                 retry: RetryPolicy | None) -> ComponentProxy:
        self.asked.append((target.name, caller, timeout, retry))
        return ComponentProxy(target, "recorded")


def host(remote: RemoteRecorder | None, refs: dict[str, RefPolicy] | None = None,
         runtime: Runtime | None = None) -> Host:
    return Host(APP, ("Front", "Store"), remote, refs=refs,
                runtime=runtime or LocalRuntime(APP, preset("monolith", APP), "local"))


@pytest.fixture(autouse=True)
def events() -> None:
    EVENTS.clear()


async def test_refs_to_components_in_the_host_are_direct_and_the_rest_remote() -> None:
    remote = RemoteRecorder()
    front_host = host(remote)
    await front_host.start()
    front = front_host.instances["Front"]
    assert repr(front.store) == "<direct Ref to Store>"
    assert repr(front.model) == "<recorded Ref to Model>"
    assert remote.asked == [("Model", "Front", None, None)]
    assert await front.ask("k") == "K"


async def test_hooks_run_dependencies_first_and_stop_in_reverse_even_when_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = host(RemoteRecorder())
    await started.start()
    assert EVENTS == ["start Store", "start Front"]
    with caplog.at_level(logging.ERROR, logger="genweave.host"):
        await started.stop()
    assert EVENTS[2:] == ["stop Front", "stop Store"]
    assert "Store.on_stop failed" in caplog.text


async def test_a_component_that_asks_for_the_runtime_gets_the_hosts() -> None:
    runtime = LocalRuntime(APP, preset("monolith", APP), "here")
    started = host(RemoteRecorder(), runtime=runtime)
    await started.start()
    assert started.instances["Front"].runtime is runtime


async def test_without_a_runtime_a_component_that_asks_for_one_cannot_start() -> None:
    unhosted = Host(APP, ("Front", "Store"), RemoteRecorder())
    with pytest.raises(LookupError, match="Front.runtime: no Runtime is available"):
        await unhosted.start()


async def test_a_host_without_remote_refs_must_hold_every_target() -> None:
    with pytest.raises(LookupError, match="component 'Model' is not hosted here"):
        await host(None).start()


async def test_a_refs_timeout_and_retries_go_to_its_remote_proxy() -> None:
    remote = RemoteRecorder()
    await host(remote, refs={"Model": RefPolicy(timeout=2.0, retries=4)}).start()
    assert remote.asked == [("Model", "Front", 2.0, RetryPolicy(attempts=5))]


async def test_a_ref_with_a_circuit_is_guarded() -> None:
    policy = RefPolicy(circuit=CircuitSettings(failures=2))
    guarded = host(RemoteRecorder(), refs={"Front.store": policy})
    await guarded.start()
    front = guarded.instances["Front"]
    assert repr(front.store) == "<direct, guarded Ref to Store>"
    assert repr(front.model) == "<recorded Ref to Model>"  # the policy names Front.store only


async def client_of(callee: Callee) -> ClientConnection:
    client = ClientConnection(APP.name, "tester")
    connect_pair(client, ServerConnection(callee))
    await client.handshake()
    return client


async def test_the_hosts_callee_serves_its_components_and_the_replicas_admin() -> None:
    served = host(RemoteRecorder())
    await served.start()
    callee = served.dispatcher("front/0", max_in_flight=8)
    client = await client_of(callee)
    get = spec_of(Store).methods["get"]
    assert await client.call(get, get.args_type("k"), {}, None, "") == "K"
    load = spec_of(Admin).methods["load"]
    # The load call itself is not counted: an idle replica reports no calls in flight.
    assert await client.call(load, load.args_type(), {}, None, "") == ReplicaLoad(0, 0)
    run = spec_of(Model).methods["run"]
    with pytest.raises(InterfaceMismatch, match="the callee does not serve this component"):
        await client.call(run, run.args_type("x"), {}, None, "")
    assert callee.admission.max_in_flight == 8
