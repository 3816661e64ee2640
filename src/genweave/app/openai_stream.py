"""OpenAI's response shapes from the reference app's answers: chunks, completions, usage.

The Assistant answers a chat as a stream of :class:`~genweave.app.types.ChatEvent`
(text, citations, an image, degraded stages, the end); OpenAI clients expect
``chat.completion.chunk`` events or one ``chat.completion``.  genweave's own
additions travel in the ``genweave`` field, which OpenAI clients ignore.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from genweave.app.types import ChatEvent
from genweave.gateway import openai as oa
from genweave.models.generation.base import TextDelta

__all__ = ["chat_chunks", "chat_completion", "completion_chunks", "openai_usage"]


def openai_usage(prompt_tokens: int, completion_tokens: int) -> oa.Usage:
    """OpenAI's usage block, its total counted."""
    return oa.Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens)


def _extras(event: ChatEvent) -> dict[str, Any] | None:
    if event.type == "citations":
        return {"citations": msgspec.to_builtins(event.citations)}
    if event.type == "degraded":
        return {"degraded": event.degraded}
    if event.type == "blocked":
        return {"blocked": event.categories}
    if event.type == "image" and event.image is not None:
        return {"image": {"b64_json": base64.b64encode(event.image.png).decode(),
                          "detail": event.image.detail}}
    return None


async def chat_chunks(events: AsyncIterator[ChatEvent], completion_id: str, created: int,
                      model: str, include_usage: bool) -> AsyncIterator[bytes]:
    """``chat.completion.chunk`` events: the role first, then one per answer event.

    Text becomes ``delta.content``; citations, images, degraded stages and
    moderation blocks become empty deltas carrying a ``genweave`` field; with
    ``include_usage``, a last chunk with no choices carries the token counts.
    """
    encode = msgspec.json.encode

    def chunk(delta: oa.Delta, finish: str | None = None, **extra: Any) -> bytes:
        return encode(oa.ChatCompletionChunk(
            id=completion_id, created=created, model=model,
            choices=[oa.ChunkChoice(delta=delta, finish_reason=finish)], **extra))

    yield chunk(oa.Delta(role="assistant", content=""))
    async for event in events:
        if event.type == "delta":
            yield chunk(oa.Delta(content=event.text))
        elif event.type == "done":
            yield chunk(oa.Delta(), event.finish_reason or "stop",
                        genweave={"degraded": event.degraded} if event.degraded else None)
            if include_usage and event.usage is not None:
                yield encode(oa.ChatCompletionChunk(
                    id=completion_id, created=created, model=model, choices=[],
                    usage=openai_usage(event.usage.prompt_tokens, event.usage.completion_tokens)))
        else:
            yield chunk(oa.Delta(), genweave=_extras(event))


async def chat_completion(events: AsyncIterator[ChatEvent], completion_id: str, created: int,
                          model: str) -> oa.ChatCompletion:
    """One ``chat.completion`` from the whole answer, its extras merged into ``genweave``."""
    text: list[str] = []
    extras: dict[str, Any] = {}
    finish, tokens = "stop", openai_usage(0, 0)
    async for event in events:
        if event.type == "delta":
            text.append(event.text)
        elif event.type == "done":
            finish = event.finish_reason or "stop"
            if event.usage is not None:
                tokens = openai_usage(event.usage.prompt_tokens, event.usage.completion_tokens)
            if event.degraded:
                extras["degraded"] = event.degraded
        else:
            extras.update(_extras(event) or {})
    return oa.ChatCompletion(
        id=completion_id, created=created, model=model, usage=tokens,
        choices=[oa.ChatChoice(message=oa.ChoiceMessage(content="".join(text)),
                               finish_reason=finish)],
        genweave=extras or None)


async def completion_chunks(deltas: AsyncIterator[TextDelta], completion_id: str, created: int,
                            model: str) -> AsyncIterator[bytes]:
    """``text_completion`` events, one per generated delta."""
    async for delta in deltas:
        yield msgspec.json.encode(oa.Completion(
            id=completion_id, created=created, model=model,
            choices=[oa.CompletionChoice(index=0, text=delta.text,
                                         finish_reason=delta.finish_reason)]))
