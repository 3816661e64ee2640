"""The transformers backend, on a tiny GPT-2 and tokenizer that the tests build and save."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from generation_helpers import collect

from conftest import eventually
from genweave.models.generation import (
    BackendSettings,
    GenerationParams,
    PromptTooLong,
    format_chat,
    load_backend,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from genweave.models.generation.transformers_impl import TransformersBackend  # noqa: E402

CORPUS = [
    "The for statement is used to iterate over the elements of a sequence.",
    "A while loop repeats as long as an expression is true.",
    "Tuples are immutable sequences, typically used to store collections.",
]
CONTEXT = 48
EOS = "<|endoftext|>"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
PROMPTS = ["The for", "A while loop repeats as long as", "Tuples", ""]
STEP_POLL = 0.002
"""Seconds between looks at the engine: shorter than one decode step."""


def build_model(directory: Path, *, chat_template: str | None = None) -> Path:
    """A 2-layer GPT-2 with random weights and a byte-level BPE tokenizer
    trained on three sentences, saved the way ``save_pretrained`` saves any model."""
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=320, special_tokens=[EOS],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(CORPUS * 10, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=EOS, bos_token=EOS
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    # Large initial weights give peaked next-token distributions, so greedy
    # choices do not hinge on float rounding differences between batch shapes.
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer), n_positions=CONTEXT, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        initializer_range=0.5,
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
async def backend(model_dir: Path) -> AsyncIterator[TransformersBackend]:
    backend = TransformersBackend.load(model_dir, threads=1, max_batch_size=4)
    yield backend
    await backend.close()


def greedy(max_tokens: int = 12, **extra: object) -> GenerationParams:
    return GenerationParams(max_tokens=max_tokens, temperature=0.0, **extra)  # type: ignore[arg-type]


async def test_loads_a_local_model_directory(backend: TransformersBackend, model_dir: Path) -> None:
    assert backend.name == f"{model_dir.name} (transformers)"
    assert backend.context_length == CONTEXT
    text, last = await collect(backend.generate("The for", greedy()))
    assert last.usage is not None
    assert last.usage.prompt_tokens == await backend.count_tokens("The for")
    assert (last.finish_reason == "length") == (last.usage.completion_tokens == 12)
    assert text or last.finish_reason == "stop"


async def test_batched_rows_generate_what_each_generates_alone(
    backend: TransformersBackend,
) -> None:
    sampled = [GenerationParams(max_tokens=16, temperature=0.8, seed=i) for i in range(4)]
    alone = [await collect(backend.generate(p, s)) for p, s in zip(PROMPTS, sampled, strict=True)]

    async def later(delay_steps: int, prompt: str, params: GenerationParams) -> object:
        await eventually(lambda: backend.engine.stats.steps >= start + delay_steps,
                         interval=STEP_POLL)
        return await collect(backend.generate(prompt, params))

    # Different prompt lengths (left padding), and rows joining a running batch.
    start = backend.engine.stats.steps
    together = await asyncio.gather(
        *(later(2 * i, p, s) for i, (p, s) in enumerate(zip(PROMPTS, sampled, strict=True)))
    )
    assert together == alone


async def test_rows_can_leave_and_the_rest_continue(backend: TransformersBackend) -> None:
    expected, _ = await collect(backend.generate("Tuples are", greedy(20)))
    kept = backend.generate("Tuples are", greedy(20))
    dropped = backend.generate("A while loop", greedy(10_000))
    async with contextlib.aclosing(kept), contextlib.aclosing(dropped):
        first = await anext(kept)
        await anext(dropped)
        await dropped.aclose()
        text, _ = await collect(kept)
    assert first.text + text == expected
    await backend.engine.wait_idle()
    assert backend.engine.stats.running == 0


async def test_stop_strings_work_with_multi_byte_tokens(backend: TransformersBackend) -> None:
    full, _ = await collect(backend.generate("The for", greedy(30)))
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    text, last = await collect(backend.generate("The for", greedy(30, stop=[stop])))
    assert text == full[: full.find(stop)]
    assert last.finish_reason == "stop"


async def test_context_length_bounds_generation(backend: TransformersBackend) -> None:
    prompt = "Tuples are immutable sequences, typically used to store"
    prompt_tokens = await backend.count_tokens(prompt)
    _, last = await collect(backend.generate(prompt, greedy(1_000)))
    assert last.usage is not None
    assert last.usage.prompt_tokens + last.usage.completion_tokens <= CONTEXT
    with pytest.raises(PromptTooLong, match=f"holds {CONTEXT}"):
        backend.generate(prompt * (CONTEXT // prompt_tokens + 1), greedy())


async def test_chat_without_template_uses_a_transcript(backend: TransformersBackend) -> None:
    messages = [SimpleNamespace(role="user", content="What is a tuple?")]
    _, last = await collect(backend.chat(messages, greedy()))
    assert last.usage is not None
    assert last.usage.prompt_tokens == await backend.count_tokens(format_chat(messages))


async def test_chat_uses_the_tokenizer_chat_template(tmp_path: Path) -> None:
    directory = build_model(tmp_path / "chat", chat_template=CHAT_TEMPLATE)
    settings = BackendSettings(backend="transformers", path=str(directory), threads=1)
    backend = load_backend(settings)
    assert isinstance(backend, TransformersBackend)
    async with backend:
        messages = [SimpleNamespace(role="user", content="Hi")]
        _, last = await collect(backend.chat(messages, greedy(3)))
        rendered = "<|user|>Hi\n<|assistant|>"
        assert last.usage is not None
        assert last.usage.prompt_tokens == await backend.count_tokens(rendered)


def test_a_directory_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no config.json"):
        TransformersBackend.load(tmp_path)
    with pytest.raises(ValueError, match="set 'path'"):
        load_backend(BackendSettings(backend="transformers"))


async def test_caches_that_cannot_merge_batch_one_group_at_a_time(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sliding-window and recurrent caches cannot be padded and stacked; the
    # engine then admits new requests only once the running batch drains.
    from genweave.models.generation import hf_runner

    monkeypatch.setattr(hf_runner, "_is_plain", lambda cache: False)
    expected = [await collect(backend.generate(p, greedy(40))) for p in PROMPTS[:2]]
    first = asyncio.create_task(collect(backend.generate(PROMPTS[0], greedy(40))))
    await eventually(lambda: backend.engine.stats.running == 1, interval=STEP_POLL)
    await eventually(lambda: not backend.engine._runner.can_join, interval=STEP_POLL)
    second = asyncio.create_task(collect(backend.generate(PROMPTS[1], greedy(40))))
    await eventually(lambda: backend.engine.stats.waiting == 1, interval=STEP_POLL)
    assert await first == expected[0]
    assert await second == expected[1]
