"""The Generator component: the backend its settings name, the model id clients use, streams
that stop the backend's work when left, and startup errors that name the setting to fix.

Each backend's own behaviour is tested in ``tests/models/generation/``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence

import pytest
import pytest_asyncio

from genweave.app.generator import Generator, GeneratorSettings
from genweave.app.types import ChatMessage
from genweave.errors import GenweaveError
from genweave.models.generation.base import GenerationParams, TextBackend, TextDelta, TokenUsage
from genweave.models.generation.chat import Message
from genweave.models.generation.config import BackendSettings
from genweave.models.generation.errors import BackendClosed

PARAMS = GenerationParams(max_tokens=16, seed=3)


class Recording(TextBackend):
    """A backend that streams the words of its ``model`` setting and writes down its use."""

    instances: list[Recording] = []

    def __init__(self, words: str) -> None:
        self.words = words.split()
        self.prompts: list[str] = []
        self.conversations: list[tuple[list[Message], GenerationParams]] = []
        self.streams_closed = 0
        self.closed = False
        Recording.instances.append(self)

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> Recording:
        return cls(settings.model)

    @property
    def name(self) -> str:
        return "recording"

    def generate(self, prompt: str, params: GenerationParams) -> AsyncGenerator[TextDelta, None]:
        self.prompts.append(prompt)
        return self._stream()

    def chat(self, messages: Sequence[Message],
             params: GenerationParams) -> AsyncGenerator[TextDelta, None]:
        self.conversations.append((list(messages), params))
        return self._stream()

    async def _stream(self) -> AsyncGenerator[TextDelta, None]:
        try:
            for word in self.words:
                yield TextDelta(word)
            yield TextDelta("", "stop", TokenUsage(1, len(self.words)))
        finally:
            self.streams_closed += 1

    async def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def close(self) -> None:
        self.closed = True


RECORDING = f"{__name__}:Recording"


async def started(settings: GeneratorSettings) -> Generator:
    generator = Generator()
    generator.config = settings
    await generator.on_start()
    return generator


@pytest_asyncio.fixture
async def recorded() -> AsyncIterator[tuple[Generator, Recording]]:
    generator = await started(GeneratorSettings(backend=RECORDING, model="one two three"))
    backend = Recording.instances[-1]
    yield generator, backend
    await generator.on_stop()


async def text_of(deltas: AsyncIterator[TextDelta]) -> tuple[str, TextDelta]:
    pieces = [delta async for delta in deltas]
    return "".join(d.text for d in pieces), pieces[-1]


async def test_the_builtin_model_streams_and_the_same_seed_gives_the_same_text() -> None:
    generator = await started(GeneratorSettings())
    try:
        text, last = await text_of(generator.generate("The for statement", PARAMS))
        again, _ = await text_of(generator.generate("The for statement", PARAMS))
        reply, reply_last = await text_of(generator.chat(
            [ChatMessage("user", "What is a tuple?")], PARAMS))
    finally:
        await generator.on_stop()
    assert text and text == again
    assert last.finish_reason in ("stop", "length") and last.usage is not None
    assert last.usage.completion_tokens > 0
    assert reply and reply_last.finish_reason is not None


async def test_prompts_conversations_and_options_reach_the_backend_unchanged(
    recorded: tuple[Generator, Recording],
) -> None:
    generator, backend = recorded
    assert await text_of(generator.generate("Once", PARAMS)) == (
        "onetwothree", TextDelta("", "stop", TokenUsage(1, 3)))
    conversation = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")]
    await text_of(generator.chat(conversation, PARAMS))
    assert backend.prompts == ["Once"]
    assert backend.conversations == [(conversation, PARAMS)]
    assert await generator.count_tokens("three words here") == 3


@pytest.mark.parametrize("stream", ["generate", "chat"])
async def test_leaving_a_stream_early_closes_the_backends_stream(
    recorded: tuple[Generator, Recording], stream: str,
) -> None:
    generator, backend = recorded
    deltas = (generator.generate("Once", PARAMS) if stream == "generate"
              else generator.chat([ChatMessage("user", "Hi")], PARAMS))
    assert (await anext(deltas)).text == "one"
    assert backend.streams_closed == 0
    await deltas.aclose()  # type: ignore[attr-defined]
    assert backend.streams_closed == 1


async def test_stopping_closes_the_backend() -> None:
    generator = await started(GeneratorSettings())
    await generator.on_stop()
    with pytest.raises(BackendClosed, match="create a new one"):
        await text_of(generator.generate("The", PARAMS))


@pytest.mark.parametrize(("settings", "model_id"), [
    (GeneratorSettings(), "genweave-tinylm"),
    (GeneratorSettings(backend="transformers", path="/models/gpt2"), "local-transformers"),
    (GeneratorSettings(backend="openai", base_url="http://127.0.0.1:1/v1", model="qwen2.5"),
     "qwen2.5"),
    (GeneratorSettings(backend="openai", base_url="http://127.0.0.1:1/v1"), "remote"),
    (GeneratorSettings(backend="openai", model="qwen2.5", model_id="house-model"),
     "house-model"),
])
async def test_the_model_id_names_the_backend_unless_set(settings: GeneratorSettings,
                                                        model_id: str) -> None:
    generator = Generator()
    generator.config = settings
    assert await generator.model_id() == model_id  # known before the model loads


@pytest.mark.parametrize(("settings", "message"), [
    (GeneratorSettings(backend="openai"), "openai backend: set 'base_url', e.g. http://"),
    (GeneratorSettings(backend="transformers"),
     "transformers backend: set 'path' to a Hugging Face model directory"),
    (GeneratorSettings(backend="gguf"),
     "unknown text backend 'gguf'; use one of builtin, openai, transformers"),
    (GeneratorSettings(max_batch_size=-1), "max_batch_size must be at least 1"),
])
async def test_a_bad_setting_fails_the_start_naming_it(settings: GeneratorSettings,
                                                       message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await started(settings)


async def test_missing_builtin_weights_are_a_genweave_error_naming_the_path() -> None:
    with pytest.raises(GenweaveError, match="/nowhere/tinylm.npz"):
        await started(GeneratorSettings(path="/nowhere/tinylm.npz"))
