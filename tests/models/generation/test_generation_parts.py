"""The small parts behind every backend: stop strings, chat transcripts, SSE,
error mapping, lazy imports, the engine's bookkeeping and ``load_backend``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from generation_helpers import collect

from genweave.models.generation import (
    AuthenticationFailed,
    BackendSettings,
    Engine,
    GenerationError,
    GenerationParams,
    InvalidRequest,
    MissingDependency,
    ModelNotFound,
    RateLimited,
    RemoteError,
    RemoteTimeout,
    RemoteUnavailable,
    TextBackend,
    TextDelta,
    TokenUsage,
    format_chat,
    load_backend,
)
from genweave.models.generation.builtin_impl import BuiltinBackend
from genweave.models.generation.engine import Detokenizer, EngineRequest, Runner
from genweave.models.generation.errors import remote_error_class
from genweave.models.generation.importer import import_from_string, require
from genweave.models.generation.openai_wire import error_from_body
from genweave.models.generation.sse import Event, iter_events
from genweave.models.generation.stops import StopMatcher
from genweave.models.tinylm import StreamDecoder

# --- stop strings ---------------------------------------------------------------------

def run_matcher(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    matcher, shown = StopMatcher(stops), []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        shown.append(text)
        if stopped:
            return shown, True
    return [*shown, matcher.flush()], False


@pytest.mark.parametrize(
    ("stops", "pieces", "shown", "stopped"),
    [
        ([], ["a", "b"], ["a", "b", ""], False),
        (["\nUser:"], ["Hi\n", "Us", "er: x"], ["Hi", "", ""], True),
        (["\nUser:"], ["Hi\n", "Us", "ed"], ["Hi", "", "\nUsed", ""], False),
        (["END", "STOP"], ["xxSTOPyyEND"], ["xx"], True),
        (["ab"], ["a"], ["", "a"], False),
        (["aab"], ["a", "a", "a", "b"], ["", "", "a", ""], True),
    ],
)
def test_stop_matcher_never_shows_a_stop_string(
    stops: list[str], pieces: list[str], shown: list[str], stopped: bool
) -> None:
    assert run_matcher(stops, pieces) == (shown, stopped)


# --- chat -----------------------------------------------------------------------------

def test_format_chat_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown message role 'tool'"):
        format_chat([SimpleNamespace(role="tool", content="{}")])


def test_format_chat_ends_with_the_answer_cue() -> None:
    prompt = format_chat([SimpleNamespace(role="user", content="  Hi  ")])
    assert prompt == "User: Hi\n\nAssistant:"


# --- server-sent events ---------------------------------------------------------------

async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def test_sse_events_join_data_lines_and_skip_comments() -> None:
    events = [e async for e in iter_events(lines(
        ": keep-alive", "", "data: {\"a\":", "data: 1}", "", "event: error", "data:x", "",
        "data: [DONE]",
    ))]
    assert events == [Event("message", '{"a":\n1}'), Event("error", "x"),
                      Event("message", "[DONE]")]


# --- errors ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, InvalidRequest), (401, AuthenticationFailed), (403, AuthenticationFailed),
     (404, ModelNotFound), (408, RemoteTimeout), (422, InvalidRequest), (429, RateLimited),
     (500, RemoteUnavailable), (503, RemoteUnavailable), (504, RemoteTimeout),
     (418, RemoteError)],
)
def test_statuses_map_to_error_classes(status: int, cls: type[RemoteError]) -> None:
    assert remote_error_class(status) is cls


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "bad key", "type": "auth", "code": "k"}}', "bad key"),
        (b'{"error": "plain error"}', "plain error"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b"<html>gateway down</html>", "<html>gateway down</html>"),
        (b"", "(no message)"),
    ],
)
def test_error_bodies_of_every_shape_give_the_server_message(body: bytes, message: str) -> None:
    error = error_from_body(502, body, "http://h/v1/completions")
    assert isinstance(error, RemoteUnavailable)
    assert str(error) == f"http://h/v1/completions: HTTP 502 Bad Gateway: {message}"


# --- lazy imports ---------------------------------------------------------------------

def test_a_missing_optional_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingDependency, match=r"pip install genweave\[models\]") as raised:
        require("httpx", backend="openai")
    assert isinstance(raised.value, ImportError)
    with pytest.raises(MissingDependency, match="the openai backend needs the 'httpx'"):
        load_backend(BackendSettings(backend="openai", base_url="http://127.0.0.1:9"))


def test_the_builtin_backend_does_not_import_heavy_packages() -> None:
    code = ("import sys; from genweave.models.generation import BackendSettings, load_backend;"
            "load_backend(BackendSettings());"
            "print(sorted({'torch', 'transformers', 'httpx'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("target", "message"),
    [("json", "must look like"), ("json:nothing", "has no attribute 'nothing'")],
)
def test_import_from_string_errors(target: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        import_from_string(target)


# --- load_backend ---------------------------------------------------------------------

class Echo(TextBackend):
    """A custom backend, loaded by 'module:Class'."""

    def __init__(self, word: str) -> None:
        self.word = word

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> Echo:
        return cls(settings.model)

    @property
    def name(self) -> str:
        return "echo"

    async def generate(self, prompt: str, params: GenerationParams) -> AsyncIterator[TextDelta]:
        yield TextDelta(self.word, "stop", TokenUsage(1, 1))

    async def count_tokens(self, text: str) -> int:
        return 1

    async def close(self) -> None:
        """Nothing to release."""


async def test_load_backend_by_name_and_by_import_string() -> None:
    builtin = load_backend(BackendSettings(max_batch_size=1))
    assert isinstance(builtin, BuiltinBackend)
    assert builtin.engine.max_batch_size == 1
    await builtin.close()
    custom = load_backend(BackendSettings(backend=f"{__name__}:Echo", model="hello"))
    assert await collect(custom.generate("x", GenerationParams())) == (
        "hello", TextDelta("hello", "stop", TokenUsage(1, 1)))


@pytest.mark.parametrize(
    ("backend", "error", "message"),
    [
        ("gguf", ValueError, "unknown text backend 'gguf'; use one of builtin, openai"),
        ("json:dumps", TypeError, "not a TextBackend subclass"),
        (f"{__name__}:NotLoadable", TypeError, "cannot be created from settings"),
    ],
)
def test_load_backend_errors(backend: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        load_backend(BackendSettings(backend=backend))


class NotLoadable(Echo):
    from_settings = TextBackend.from_settings  # type: ignore[assignment]


# --- the engine with a scripted runner ------------------------------------------------

class ScriptedRunner(Runner):
    """Emits ``prompt[0] + step`` for every job; fails when a job's prompt says so."""

    FAIL = 99

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.live: dict[EngineRequest, int] = {}

    def admit(self, jobs: list[EngineRequest]) -> None:
        self.live.update({job: 0 for job in jobs})

    def step(self, jobs: list[EngineRequest]) -> list[int]:
        self.batches.append(len(jobs))
        if any(job.prompt_ids[0] == self.FAIL for job in jobs):
            raise RuntimeError("CUDA error: out of memory")
        for job in jobs:
            self.live[job] += 1
        return [job.prompt_ids[0] + self.live[job] for job in jobs]

    def release(self, jobs: list[EngineRequest]) -> None:
        for job in jobs:
            self.live.pop(job, None)

    def detokenizer(self, prompt_ids: list[int]) -> Detokenizer:
        return StreamDecoder()


async def test_engine_respects_max_batch_size() -> None:
    runner = ScriptedRunner()
    engine = Engine(runner, max_batch_size=3)
    results = await asyncio.gather(
        *(collect(engine.generate([65], GenerationParams(max_tokens=4), limit=4))
          for _ in range(7))
    )
    assert [text for text, _ in results] == ["BCDE"] * 7
    assert max(runner.batches) == 3
    assert sum(runner.batches) == 28
    await engine.wait_idle()
    assert runner.live == {}
    await engine.close()


async def test_a_model_failure_fails_its_batch_and_the_engine_goes_on() -> None:
    runner = ScriptedRunner()
    engine = Engine(runner, name="scripted")
    with pytest.raises(GenerationError, match="scripted: the model failed while generating: "
                                              "RuntimeError: CUDA error") as raised:
        await collect(engine.generate([ScriptedRunner.FAIL], GenerationParams(), limit=3))
    assert isinstance(raised.value.__cause__, RuntimeError)
    text, _ = await collect(engine.generate([65], GenerationParams(), limit=2))
    assert text == "BC"
    await engine.close()


def test_engine_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_batch_size must be at least 1"):
        Engine(ScriptedRunner(), max_batch_size=0)
