"""A call written as text, made against a deployment and printed as JSON (``genweave call``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from genweave import Deployment, InvalidArgument, deploy
from genweave.deploy.invoke import invoke, parse_call


def test_parse_call() -> None:
    assert parse_call('Front.ask {"question": "hi"}') == ("Front", "ask", {"question": "hi"})
    assert parse_call("Model.stats") == ("Model", "stats", {})
    assert parse_call("  pkg.Model.add {}") == ("pkg.Model", "add", {})
    with pytest.raises(ValueError, match="expected 'Component.method JSON-ARGS'"):
        parse_call("ask")
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse_call("Front.ask [1]")


@pytest_asyncio.fixture(scope="module")
async def running() -> AsyncIterator[Deployment]:
    async with deploy("sample_app:app", "hybrid", "codec") as deployment:
        yield deployment


async def printed(running: Deployment, text: str) -> list[str]:
    lines: list[str] = []
    await invoke(running, text, lines.append)
    return lines


async def test_a_result_and_each_streamed_item_print_as_json(running: Deployment) -> None:
    assert await printed(running, 'Model.add {"a": 40, "b": 2}') == ["42"]
    assert await printed(running, 'Model.add {"a": 1}') == ["2"]  # defaults apply
    assert await printed(running, 'Front.shout {"text": "two words"}') == ['"TWO"', '"WORDS"']
    assert await printed(running, 'Front.ask {"question": "hi"}') == [
        '{"question":"hi","text":"hi","sources":[],"score":1.0}']


async def test_mistakes_name_the_method_and_parameter(running: Deployment) -> None:
    with pytest.raises(ValueError, match="Model has no method 'ad'; it has add, blob, "):
        await printed(running, "Model.ad {}")
    with pytest.raises(InvalidArgument, match="unknown parameter 'c'"):
        await printed(running, 'Model.add {"a": 1, "c": 2}')
    with pytest.raises(InvalidArgument, match="parameter 'a': expected `int`, got `str`"):
        await printed(running, 'Model.add {"a": "x"}')
