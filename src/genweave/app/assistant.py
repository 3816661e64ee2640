"""The Assistant: the orchestration of one chat turn.

    input moderation -> retrieval -> generation (streamed) -> citations
    -> output moderation, with an optional illustration drawn alongside

Each optional stage degrades instead of failing: if the Retriever or the
Illustrator is unavailable (or too slow), the answer still streams and says,
in a ``degraded`` event, what it went without.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Final

import msgspec

from genweave._aio import closing_stream
from genweave.app.generator import Generator
from genweave.app.illustrator import Illustrator
from genweave.app.moderator import Moderator
from genweave.app.pii import StreamRedactor
from genweave.app.postprocess import PostProcessor, cite
from genweave.app.retriever import Retriever
from genweave.app.types import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Citation,
    Image,
    Passage,
    Usage,
)
from genweave.component import Ref, component
from genweave.errors import CallError
from genweave.models.generation.base import GenerationParams

__all__ = ["Assistant", "AssistantSettings"]

logger = logging.getLogger("genweave.app.assistant")

CONTENT_FILTER: Final = "content_filter"
SOURCE_CHARS: Final = 600
ILLUSTRATION_SIZE: Final = 256


class AssistantSettings(msgspec.Struct, frozen=True):
    system_prompt: str = (
        "You are a helpful assistant for the Python language. Answer the question, "
        "using the numbered sources when they are relevant."
    )
    retrieval_timeout: float = 5.0
    illustration_timeout: float = 30.0
    moderation_required: bool = True
    """Refuse to answer (503) when the Moderator is down; False answers unmoderated."""
    max_citations: int = 5


@component(config=AssistantSettings)
class Assistant:
    """Answers a chat turn as a stream of ``ChatEvent``."""

    config: AssistantSettings
    moderator: Ref[Moderator]
    retriever: Ref[Retriever]
    generator: Ref[Generator]
    illustrator: Ref[Illustrator]
    post: Ref[PostProcessor]

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        question = _last_user_message(request.messages)
        degraded: list[str] = []
        verdict = await self._moderate(question, degraded)
        if verdict:
            yield ChatEvent("blocked", categories=verdict)
            yield ChatEvent("done", finish_reason=CONTENT_FILTER, degraded=degraded)
            return
        drawing = (asyncio.create_task(self._illustrate(question))
                   if request.illustrate else None)
        try:
            passages = await self._retrieve(question, request, degraded)
            if degraded:
                yield ChatEvent("degraded", degraded=list(degraded))
            answer: list[str] = []
            usage = Usage()
            finish = "stop"
            redactor = StreamRedactor()
            messages = self._prompt(request, passages)
            params = GenerationParams(request.max_tokens, request.temperature, request.top_p,
                                      request.seed, request.stop)
            async with closing_stream(self.generator.chat(messages, params)) as deltas:
                async for delta in deltas:
                    answer.append(delta.text)
                    if delta.finish_reason is not None:
                        finish = delta.finish_reason
                    if delta.usage is not None:
                        usage = Usage(delta.usage.prompt_tokens, delta.usage.completion_tokens)
                    safe = redactor.feed(delta.text)
                    if safe:
                        yield ChatEvent("delta", text=safe)
            rest = redactor.flush()
            if rest:
                yield ChatEvent("delta", text=rest)
            text = "".join(answer)
            if passages:
                yield ChatEvent("citations", citations=await self._cite(text, passages,
                                                                        degraded))
            if drawing is not None:
                image = await drawing
                if image is None:
                    degraded.append("illustration")
                    yield ChatEvent("degraded", degraded=["illustration"])
                else:
                    yield ChatEvent("image", image=image)
            flagged = await self._moderate(text, degraded)
            if flagged:
                yield ChatEvent("blocked", categories=flagged)
                finish = CONTENT_FILTER
            yield ChatEvent("done", finish_reason=finish, usage=usage, degraded=degraded)
        finally:
            if drawing is not None and not drawing.done():
                drawing.cancel()

    async def _moderate(self, text: str, degraded: list[str]) -> list[str]:
        """Flagged categories of ``text``; [] when fine (or unmoderated, if allowed)."""
        try:
            result = await self.moderator.check(text)
        except CallError:
            if self.config.moderation_required:
                raise
            if "moderation" not in degraded:
                degraded.append("moderation")
            return []
        return [name for name, hit in result.categories.items() if hit]

    async def _retrieve(self, question: str, request: ChatRequest,
                        degraded: list[str]) -> list[Passage]:
        if not request.retrieval:
            return []
        try:
            async with asyncio.timeout(self.config.retrieval_timeout):
                return await self.retriever.search(question, request.top_k)
        except (CallError, TimeoutError) as exc:
            logger.warning("retrieval degraded: %s", exc)
            degraded.append("retrieval")
            return []

    async def _illustrate(self, question: str) -> Image | None:
        try:
            async with asyncio.timeout(self.config.illustration_timeout):
                return await self.illustrator.draw(question, ILLUSTRATION_SIZE)
        except (CallError, TimeoutError) as exc:
            logger.warning("illustration degraded: %s", exc)
            return None

    async def _cite(self, answer: str, passages: list[Passage],
                    degraded: list[str]) -> list[Citation]:
        try:
            return await self.post.cite(answer, passages, self.config.max_citations)
        except CallError:
            degraded.append("post-processing")
            return cite(answer, passages, self.config.max_citations)

    def _prompt(self, request: ChatRequest, passages: list[Passage]) -> list[ChatMessage]:
        system = self.config.system_prompt
        if passages:
            sources = "\n".join(f"[{i}] {p.title}: {p.text[:SOURCE_CHARS]}"
                                for i, p in enumerate(passages, start=1))
            system = f"{system}\n\nSources:\n{sources}"
        history = [m for m in request.messages if m.role != "system"]
        return [ChatMessage("system", system), *history]


def _last_user_message(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    raise ValueError("the conversation has no user message to answer")
