"""The Illustrator draws real PNGs with the built-in model, and names its backend's model."""

from __future__ import annotations

import pytest

from genweave.app.illustrator import Illustrator, IllustratorSettings
from genweave.models.image import ImageBackendClosed

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def illustrator() -> Illustrator:
    instance = Illustrator()
    instance.config = IllustratorSettings()
    await instance.on_start()
    return instance


async def test_draws_the_digit_the_prompt_names(illustrator: Illustrator) -> None:
    image = await illustrator.draw("draw a seven", size=64, seed=3)
    assert image.png.startswith(PNG_SIGNATURE)
    assert int.from_bytes(image.png[16:20], "big") == 64
    assert image.detail == "digit 7 (from the prompt)"
    again = await illustrator.draw("draw a seven", size=64, seed=3)
    assert again.png == image.png


async def test_a_prompt_without_a_digit_lets_the_seed_choose(illustrator: Illustrator) -> None:
    image = await illustrator.draw("something nice", size=32, seed=11)
    assert image.detail.endswith("(chosen by the seed)") and image.seed == 11


async def test_bad_sizes_are_refused(illustrator: Illustrator) -> None:
    with pytest.raises(ValueError, match="size must be between 8 and 1024"):
        await illustrator.draw("a 3", size=4096)


async def test_model_id_names_the_builtin_model(illustrator: Illustrator) -> None:
    assert await illustrator.model_id() == "genweave-digits"


async def test_model_id_of_a_pipeline_is_its_directory_name() -> None:
    instance = Illustrator()
    instance.config = IllustratorSettings(backend="diffusers", path="/models/sd-turbo/")
    assert await instance.model_id() == "sd-turbo"


async def test_an_unknown_backend_fails_the_start() -> None:
    instance = Illustrator()
    instance.config = IllustratorSettings(backend="dall-e")
    with pytest.raises(ValueError, match="unknown image backend 'dall-e'"):
        await instance.on_start()


async def test_stopping_closes_the_backend() -> None:
    instance = Illustrator()
    instance.config = IllustratorSettings()
    await instance.on_start()
    await instance.on_stop()
    with pytest.raises(ImageBackendClosed):
        await instance.draw("a 5", size=16, seed=0)
