"""The diffusers backend, on a tiny Stable Diffusion pipeline that the tests build and save."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from genweave import App, deploy
from genweave.app.illustrator import Illustrator
from genweave.models.image import ImageError, ImageSettings, load_image_backend
from genweave.topology import resolve_topology

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")
PIL_Image = pytest.importorskip("PIL.Image")

from genweave.models.image.diffusers_impl import DiffusersBackend  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_WIDTH = 16
MAX_TOKENS = 16


def tiny_tokenizer(directory: Path) -> object:
    """A CLIP tokenizer over single letters, from vocab and merges files written here."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[f"{letter}</w>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    return transformers.CLIPTokenizer(str(directory / "vocab.json"),
                                      str(directory / "merges.txt"), model_max_length=MAX_TOKENS)


def build_pipeline(directory: Path) -> Path:
    """A Stable Diffusion pipeline with random weights, a few thousand parameters
    in all, saved the way ``save_pretrained`` saves any checkpoint."""
    files = directory / "tokenizer-files"
    files.mkdir()
    tokenizer = tiny_tokenizer(files)
    torch.manual_seed(0)
    text_encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH,
        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=MAX_TOKENS,
        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=2, norm_num_groups=4)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1, norm_num_groups=4, sample_size=16)
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1)
    pipeline = diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    target = directory / "tiny-sd"
    pipeline.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pipeline(tmp_path_factory.mktemp("diffusers"))


@pytest.fixture(scope="module")
async def backend(pipeline_dir: Path) -> AsyncIterator[DiffusersBackend]:
    async with DiffusersBackend.load(pipeline_dir, steps=2, guidance=3.0, threads=1) as loaded:
        yield loaded


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    with PIL_Image.open(io.BytesIO(png)) as image:
        image.verify()
        return image.size  # type: ignore[no-any-return]


async def test_draws_a_png_of_the_requested_size(backend: DiffusersBackend) -> None:
    picture = await backend.draw("a red fox", 32, 5)
    assert png_size(picture.png) == (32, 32)
    assert picture.detail == "tiny-sd, 2 steps, guidance 3"
    assert backend.name == "tiny-sd (diffusers)"


async def test_same_seed_same_bytes_other_seed_other_bytes(backend: DiffusersBackend) -> None:
    first = await backend.draw("a blue boat", 32, 7)
    again = await backend.draw("a blue boat", 32, 7)
    other = await backend.draw("a blue boat", 32, 8)
    assert first.png == again.png and first.png != other.png


async def test_sizes_that_are_not_multiples_of_8_are_resized(backend: DiffusersBackend) -> None:
    assert png_size((await backend.draw("a hill", 36, 1)).png) == (36, 36)


def test_a_directory_that_is_not_a_pipeline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a diffusers pipeline directory "
                                                r"\(no model_index.json\)"):
        DiffusersBackend.load(tmp_path)
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(ImageError, match="could not load the pipeline in"):
        DiffusersBackend.load(tmp_path)


def test_a_missing_diffusers_names_the_extra(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model_index.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(ImportError, match=r"install it with `pip install genweave\[images\]`"):
        load_image_backend(ImageSettings(backend="diffusers", path=str(tmp_path)))


@pytest.mark.parametrize("placement", ["inprocess", "codec"])
async def test_the_illustrator_draws_with_a_configured_pipeline(pipeline_dir: Path,
                                                                placement: str) -> None:
    app = App("illustrations", [Illustrator])
    settings = {"backend": "diffusers", "path": str(pipeline_dir), "steps": 2, "threads": 1}
    topology = msgspec.structs.replace(resolve_topology("monolith", app),
                                       settings={"Illustrator": settings})
    async with deploy(app, topology, placement) as running:  # type: ignore[arg-type]
        illustrator = running.get(Illustrator)
        assert await illustrator.model_id() == "tiny-sd"
        image = await illustrator.draw("a green tree", 40, 11)
        assert png_size(image.png) == (40, 40)
        assert (image.prompt, image.seed) == ("a green tree", 11)
        assert image.detail == "tiny-sd, 2 steps, guidance 7.5"
        assert (await illustrator.draw("a green tree", 40, 11)).png == image.png
