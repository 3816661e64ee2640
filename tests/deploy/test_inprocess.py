"""Every group in this process: direct calls, or the real protocol over memory (``codec``)."""

from __future__ import annotations

import logging

import msgspec
import pytest
from sample_app import Front, Model, app

from genweave import App, Ref, Unavailable, component, deploy
from genweave.deploy.inprocess import InProcessDeployment
from genweave.topology import Autoscale, preset


async def test_inprocess_hosts_every_component_once_and_calls_directly() -> None:
    async with deploy(app, "microservices", "inprocess") as running:
        assert isinstance(running, InProcessDeployment)
        assert list(running.hosts) == ["main"]  # the topology's grouping is not applied
        model = running.hosts["main"].instances["Model"]
        assert await running.get(Front).relay_sleep(0) == "slept"
        assert model.started == 1  # the very instance the Ref reached


async def test_codec_hosts_each_group_and_serialises_every_call() -> None:
    async with deploy(app, "microservices", "codec") as running:
        assert isinstance(running, InProcessDeployment)
        assert sorted(running.hosts) == ["front", "model", "store"]
        assert await running.get(Front).total([1, 2, 3]) == 6
        with pytest.raises(TypeError):  # would not survive a split, so fails here too
            await running.get(Model).echo(object())


async def test_a_stopped_group_is_unavailable_until_started_again() -> None:
    async with deploy(app, "hybrid", "codec") as running:
        assert isinstance(running, InProcessDeployment)
        await running.stop_group("model")
        with pytest.raises(Unavailable, match="group 'model' is stopped"):
            await running.get(Front).relay_fail("none")
        await running.start_group("model")
        assert await running.get(Front).relay_fail("none") == "no failure"
    async with deploy(app, "hybrid", "inprocess") as direct:
        assert isinstance(direct, InProcessDeployment)
        with pytest.raises(ValueError, match="only in the codec placement"):
            await direct.stop_group("model")


@component
class Source:
    async def value(self) -> int:
        return 7


@component
class Cache:
    source: Ref[Source]

    async def on_start(self) -> None:
        self.cached = await self.source.value()  # callees are started first

    async def get(self) -> int:
        return self.cached


async def test_callees_start_before_the_callers_that_use_them_on_start() -> None:
    cached = App("cached", [Cache])
    async with deploy(cached, "microservices", "codec") as running:
        assert await running.get(Cache).get() == 7


async def test_options_that_need_processes_are_named_and_run_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topology = preset("hybrid", app)
    topology = msgspec.structs.replace(topology, groups=tuple(
        msgspec.structs.replace(g, autoscale=Autoscale(max=2)) if g.name == "model" else g
        for g in topology.groups))
    with caplog.at_level(logging.WARNING, logger="genweave.deploy"):
        async with deploy(app, topology, "codec") as running:
            assert await running.get(Model).add(1) == 2
    assert "groups model declare variants or autoscaling" in caplog.text
