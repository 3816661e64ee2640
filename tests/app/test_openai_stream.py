"""The Assistant's answer events in OpenAI's shapes: chunks, one completion, usage, extras."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from genweave.app.openai_stream import (
    chat_chunks,
    chat_completion,
    completion_chunks,
    openai_usage,
)
from genweave.app.types import ChatEvent, Citation, Image, Usage
from genweave.models.generation.base import TextDelta, TokenUsage

CITATION = Citation(1, "doc", "A title", 0, 0.8, "a snippet")
ANSWER = [
    ChatEvent("citations", citations=[CITATION]),
    ChatEvent("delta", text="Hello"),
    ChatEvent("delta", text=" world"),
    ChatEvent("image", image=Image(b"\x89PNG", "a 3", 1, "digit 3")),
    ChatEvent("done", finish_reason="length", degraded=["retrieval"], usage=Usage(5, 2)),
]


async def events(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def decoded(chunks: AsyncIterator[bytes]) -> list[dict[str, Any]]:
    return [json.loads(chunk) async for chunk in chunks]


def test_usage_counts_the_total() -> None:
    usage = openai_usage(5, 2)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 2, 7)


async def test_chat_chunks_open_with_the_role_and_carry_text_and_extras() -> None:
    chunks = await decoded(chat_chunks(events(ANSWER), "chatcmpl-1", 100, "m", False))
    assert all(c["id"] == "chatcmpl-1" and c["model"] == "m" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["genweave"]["citations"][0]["title"] == "A title"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hello world"
    image = chunks[4]["genweave"]["image"]
    assert base64.b64decode(image["b64_json"]) == b"\x89PNG" and image["detail"] == "digit 3"
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "length"
    assert last["genweave"] == {"degraded": ["retrieval"]}
    assert "usage" not in last


async def test_usage_comes_last_when_asked_for() -> None:
    chunks = await decoded(chat_chunks(events(ANSWER), "chatcmpl-1", 100, "m", True))
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 2,
                                   "total_tokens": 7}


async def test_a_blocked_answer_says_so() -> None:
    blocked = [ChatEvent("blocked", categories=["violence"]), ChatEvent("done")]
    chunks = await decoded(chat_chunks(events(blocked), "chatcmpl-2", 100, "m", False))
    assert chunks[1]["genweave"] == {"blocked": ["violence"]}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_a_whole_completion_merges_text_and_extras() -> None:
    completion = await chat_completion(events(ANSWER), "chatcmpl-3", 100, "m")
    assert completion.choices[0].message.content == "Hello world"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.total_tokens == 7
    assert completion.genweave is not None
    assert set(completion.genweave) == {"citations", "image", "degraded"}


async def test_completion_chunks_follow_the_generated_deltas() -> None:
    deltas = [TextDelta("Hi"), TextDelta(" there", "stop", TokenUsage(3, 2))]
    chunks = await decoded(completion_chunks(events(deltas), "cmpl-1", 100, "m"))
    assert [c["choices"][0]["text"] for c in chunks] == ["Hi", " there"]
    assert [c["choices"][0].get("finish_reason") for c in chunks] == [None, "stop"]
    assert all(c["id"] == "cmpl-1" and c["created"] == 100 for c in chunks)
