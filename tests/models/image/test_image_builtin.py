"""Choosing an image backend, and the built-in digit model behind the interface."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genweave.models.image import (
    ImageBackendClosed,
    ImageSettings,
    MissingImageDependency,
    load_image_backend,
)
from genweave.models.image.builtin_impl import BuiltinImageBackend

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_the_builtin_backend_draws_the_digit_the_prompt_names() -> None:
    backend = load_image_backend(ImageSettings())
    assert isinstance(backend, BuiltinImageBackend) and backend.name == "digits (builtin)"
    picture = await backend.draw("draw a seven", 48, 3)
    assert picture.png.startswith(PNG_SIGNATURE)
    assert int.from_bytes(picture.png[16:20], "big") == 48
    assert picture.detail == "digit 7 (from the prompt)"
    assert (await backend.draw("draw a seven", 48, 3)).png == picture.png
    assert (await backend.draw("anything", 48, 3)).detail.endswith("(chosen by the seed)")
    async with backend:
        pass
    with pytest.raises(ImageBackendClosed, match="closed"):
        await backend.draw("a 1", 48, 0)


def test_backends_are_chosen_by_name_or_import_string() -> None:
    own = ImageSettings(backend="genweave.models.image.builtin_impl:BuiltinImageBackend")
    assert isinstance(load_image_backend(own), BuiltinImageBackend)
    with pytest.raises(ValueError, match="unknown image backend 'dalle'; use one of builtin"):
        load_image_backend(ImageSettings(backend="dalle"))
    with pytest.raises(TypeError, match="not an ImageBackend subclass"):
        load_image_backend(ImageSettings(backend="json:dumps"))
    with pytest.raises(ValueError, match="set 'path' to a diffusers pipeline directory"):
        load_image_backend(ImageSettings(backend="diffusers"))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("steps", 0, "steps must be at least 1"),
    ("guidance", -1.0, "guidance must be 0 or more"),
    ("threads", 0, "threads must be at least 1"),
])
def test_settings_are_checked(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImageSettings(**{field: value})  # type: ignore[arg-type]


def test_a_missing_package_names_the_extra() -> None:
    error = MissingImageDependency("diffusers", "diffusers", "No module named 'diffusers'")
    assert isinstance(error, ImportError)
    assert "`pip install genweave[images]`" in str(error)


def test_the_builtin_backend_imports_neither_torch_nor_diffusers() -> None:
    code = (
        "import sys, asyncio\n"
        "from genweave.models.image import ImageSettings, load_image_backend\n"
        "backend = load_image_backend(ImageSettings())\n"
        "asyncio.run(backend.draw('a 2', 16, 0))\n"
        "print(sorted({'torch', 'diffusers', 'PIL'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
