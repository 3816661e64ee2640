"""Any local diffusers text-to-image pipeline (Stable Diffusion and kin), on CPU.

The pipeline directory is the one ``save_pretrained`` writes (``model_index.json``
and a folder per component); nothing is downloaded, whatever the environment says.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import io
import os
import threading
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from .base import ImageBackend, Picture
from .config import DEFAULT_GUIDANCE, DEFAULT_STEPS
from .errors import ImageBackendClosed, ImageError, MissingImageDependency

if TYPE_CHECKING:
    from .config import ImageSettings

__all__ = ["DiffusersBackend", "pipeline_side"]

BACKEND: Final = "diffusers"
DEFAULT_THREADS: Final = max(1, (os.cpu_count() or 1) // 2)
OFFLINE_VARIABLES: Final = ("HF_HUB_OFFLINE", "DIFFUSERS_OFFLINE", "TRANSFORMERS_OFFLINE")
PIPELINE_INDEX: Final = "model_index.json"
SIDE_MULTIPLE: Final = 8
"""Stable Diffusion and most pipelines refuse sides that are not multiples of 8
(their VAE's downscale factor)."""


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingImageDependency(module.partition(".")[0], BACKEND, str(exc)) from exc


def import_torch_and_diffusers() -> tuple[ModuleType, ModuleType]:
    """torch and diffusers, with the Hugging Face Hub switched off first."""
    for variable in OFFLINE_VARIABLES:
        os.environ.setdefault(variable, "1")
    return _require("torch"), _require("diffusers")


def pipeline_side(size: int) -> int:
    """The side a pipeline draws for a requested ``size``: the nearest multiple of 8.

    >>> pipeline_side(64), pipeline_side(60), pipeline_side(3)
    (64, 64, 8)
    """
    return max(SIDE_MULTIPLE, (size + SIDE_MULTIPLE // 2) // SIDE_MULTIPLE * SIDE_MULTIPLE)


def _load_pipeline(diffusers: ModuleType, directory: Path) -> Any:
    # Without accelerate, diffusers turns low_cpu_mem_usage off itself, but warns.
    options = {"local_files_only": True,
               "low_cpu_mem_usage": importlib.util.find_spec("accelerate") is not None}
    try:
        return diffusers.AutoPipelineForText2Image.from_pretrained(directory, **options)
    except ValueError:
        # AutoPipeline knows only the library's own families; a custom or
        # newer pipeline still loads as the class its model_index.json names.
        return diffusers.DiffusionPipeline.from_pretrained(directory, **options)


class DiffusersBackend(ImageBackend):
    """A diffusers text-to-image pipeline from a local directory, drawn on CPU.

    One drawing runs at a time (pipelines keep per-call state, so they are
    not thread-safe), in a worker thread so the event loop stays responsive.
    The seed drives a ``torch.Generator``: the same prompt, size and seed give
    the same PNG. Sizes are drawn at the nearest multiple of 8 and resized
    when that differs from the request.

    >>> backend = DiffusersBackend.load("/models/sd-turbo", steps=1, guidance=0.0, threads=4)
    >>> async def main() -> bytes:
    ...     return (await backend.draw("a red fox in snow", size=512, seed=1)).png

    ``threads`` sets torch's intra-op threads for the whole process (torch
    has no per-model setting).
    """

    def __init__(
        self,
        pipeline: Any,
        *,
        name: str = "",
        steps: int = DEFAULT_STEPS,
        guidance: float = DEFAULT_GUIDANCE,
    ) -> None:
        self.pipeline: Any = pipeline
        self.model_name = name or type(pipeline).__name__
        self.steps = steps
        self.guidance = guidance
        self._lock = threading.Lock()
        # A progress bar per drawing would flood a server's logs.
        pipeline.set_progress_bar_config(disable=True)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        steps: int = DEFAULT_STEPS,
        guidance: float = DEFAULT_GUIDANCE,
        threads: int = DEFAULT_THREADS,
    ) -> DiffusersBackend:
        """Load the pipeline saved in directory ``path`` (blocking: call it in
        a thread from async code)."""
        directory = Path(path).expanduser()
        if not (directory / PIPELINE_INDEX).is_file():
            raise FileNotFoundError(
                f"{BACKEND} backend: {directory} is not a diffusers pipeline directory "
                f"(no {PIPELINE_INDEX}); give the folder that the pipeline's "
                "save_pretrained wrote"
            )
        torch, diffusers = import_torch_and_diffusers()
        torch.set_num_threads(threads)
        try:
            pipeline = _load_pipeline(diffusers, directory)
        except (OSError, ValueError, TypeError) as exc:
            raise ImageError(
                f"{BACKEND} backend: could not load the pipeline in {directory}: {exc}"
            ) from exc
        return cls(pipeline, name=directory.name, steps=steps, guidance=guidance)

    @classmethod
    def from_settings(cls, settings: ImageSettings) -> DiffusersBackend:
        if not settings.path:
            raise ValueError(f"{BACKEND} backend: set 'path' to a diffusers pipeline directory")
        return cls.load(settings.path, steps=settings.steps, guidance=settings.guidance,
                        threads=settings.threads or DEFAULT_THREADS)

    @property
    def name(self) -> str:
        return f"{self.model_name} ({BACKEND})"

    async def draw(self, prompt: str, size: int, seed: int) -> Picture:
        png = await asyncio.to_thread(self._draw, prompt, size, seed)
        detail = f"{self.model_name}, {self.steps} steps, guidance {self.guidance:g}"
        return Picture(png, detail)

    def _draw(self, prompt: str, size: int, seed: int) -> bytes:
        torch, _ = import_torch_and_diffusers()
        side = pipeline_side(size)
        # Held by the worker thread, not the event loop: a cancelled caller
        # leaves its thread running, and the next drawing must still wait.
        with self._lock:
            if self.pipeline is None:
                raise ImageBackendClosed(f"{self.name} image backend is closed")
            generator = torch.Generator(device="cpu").manual_seed(seed)
            with torch.inference_mode():
                result = self.pipeline(
                    prompt=prompt, height=side, width=side, num_inference_steps=self.steps,
                    guidance_scale=self.guidance, generator=generator, output_type="pil",
                )
        return _png(result.images[0], size)

    async def close(self) -> None:
        await asyncio.to_thread(self._release)

    def _release(self) -> None:
        with self._lock:
            self.pipeline = None


def _png(image: Any, size: int) -> bytes:
    image = image.convert("RGB")
    if image.size != (size, size):
        pil = importlib.import_module("PIL.Image")
        image = image.resize((size, size), pil.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
