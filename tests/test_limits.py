"""Oversized messages are refused with a clear error, and the connection keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio

from genweave import Deployment, MessageTooLarge, deploy
from genweave.topology import preset
from sample_app import Model, app

LIMIT = 1 << 20


@pytest_asyncio.fixture(scope="module", params=[
    "codec", pytest.param("process", marks=pytest.mark.process)])
async def limited(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    topology = msgspec.structs.replace(preset("microservices", app), max_message_bytes=LIMIT)
    options = {"log": lambda line: None} if request.param == "process" else {}
    async with deploy("sample_app:app", topology, request.param, **options) as running:
        yield running


async def test_oversized_arguments_are_refused_before_sending(limited: Deployment) -> None:
    model = limited.get(Model)
    with pytest.raises(MessageTooLarge, match=r"Model.size_of: arguments encode to \d+ bytes, "
                                              f"above the {LIMIT}-byte message limit"):
        await model.size_of(b"x" * (2 * LIMIT))
    assert await model.size_of(b"x" * 1000) == 1000


async def test_an_oversized_result_is_refused_by_the_callee(limited: Deployment) -> None:
    model = limited.get(Model)
    with pytest.raises(MessageTooLarge, match="Model.blob: result encodes to") as caught:
        await model.blob(2 * LIMIT)
    assert caught.value.status == 413
    assert len(await model.blob(10)) == 10
