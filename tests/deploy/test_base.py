"""What every deployer inherits: ``get`` by component class, and ``async with`` that starts,
then always stops."""

from __future__ import annotations

import pytest
from sample_app import Model, app

from genweave import Deployment, component
from genweave.application import App
from genweave.errors import DefinitionError
from genweave.runtime.refs import ComponentProxy, direct_proxy
from genweave.topology import preset


class Recorded(Deployment):
    """A deployer that starts nothing and writes down what it was asked."""

    def __init__(self, application: App = app, fail_start: bool = False) -> None:
        super().__init__(application, preset("monolith", application))
        self.calls: list[str] = []
        self._fail_start = fail_start

    async def start(self) -> None:
        self.calls.append("start")
        if self._fail_start:
            raise RuntimeError("replica core/0 exited with code 1")

    async def stop(self) -> None:
        self.calls.append("stop")

    def proxy(self, component: str) -> ComponentProxy:
        self.calls.append(f"proxy {component}")
        spec = self.app.spec(component)
        return direct_proxy(spec, spec.cls())


@component(name="Speaker")
class Voice:
    async def say(self, text: str) -> str:
        return text.upper()


async def test_get_asks_for_the_component_by_its_component_name_and_gives_a_ref() -> None:
    running = Recorded(App("voices", [Voice]))
    voice = running.get(Voice)
    assert running.calls == ["proxy Speaker"] and isinstance(voice, ComponentProxy)
    assert await voice.say("hi") == "HI"


def test_get_of_a_plain_class_says_how_to_fix_it() -> None:
    class Plain:
        async def ping(self) -> str:
            return "pong"

    with pytest.raises(DefinitionError, match="decorate it with @component"):
        Recorded().get(Plain)


async def test_async_with_starts_gives_the_deployment_and_stops() -> None:
    deployment = Recorded()
    async with deployment as running:
        assert running is deployment and deployment.calls == ["start"]
    assert deployment.calls == ["start", "stop"]


async def test_a_failing_block_still_stops_and_its_error_propagates() -> None:
    deployment = Recorded()
    with pytest.raises(LookupError, match="no such thing"):
        async with deployment:
            assert await deployment.get(Model).add(1, 2) == 3
            raise LookupError("no such thing")
    assert deployment.calls == ["start", "proxy Model", "stop"]


async def test_a_failed_start_raises_and_leaves_stopping_to_start_itself() -> None:
    deployment = Recorded(fail_start=True)
    with pytest.raises(RuntimeError, match="replica core/0 exited"):
        async with deployment:
            raise AssertionError("not reached")
    assert deployment.calls == ["start"]


def test_a_deployer_must_implement_start_stop_and_proxy() -> None:
    class Partial(Deployment):
        async def start(self) -> None: ...

    with pytest.raises(TypeError, match="abstract methods") as caught:
        Partial(app, preset("monolith", app))  # type: ignore[abstract]
    assert "proxy" in str(caught.value) and "stop" in str(caught.value)
