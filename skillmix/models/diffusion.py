"""`diffusers/<folder>`: a text-to-image DiffusionPipeline (SD, SDXL, FLUX, SD3, PixArt, IF)
in process through diffusers, batched.

One request is one image: the prompt of its last message and its seed, which the runner
derives from the run seed, the item and the image number. Concurrent requests run as one
pipeline call (skillmix/models/batching.py) with one torch.Generator per image. Kernels round
differently for different batch shapes (about 1e-6 in float32, enough to flip a pixel), so by
default every call is padded to `max_batch_size` with filler prompts whose images are
dropped: an image is then the same bytes alone or in any batch
(tests/models/test_diffusion_backend.py), and a resumed run draws what an uninterrupted one
drew. `fixed_batch: false` skips the padding (a faster tail, images exact only to that 1e-6).
Options:

- `preset`: the ConceptMix paper's settings for one of its models (diffusion_presets.yaml),
  under what the entry sets itself;
- `device` (auto: cuda where available, else cpu), `dtype` (default float32 on CPU, bfloat16
  on CUDA);
- `steps`, `guidance`, `size` (WxH), `negative_prompt`: unset, the pipeline's own defaults;
- `scheduler`: a diffusers scheduler class, built from the pipeline's scheduler config;
- `call_args`: further arguments of the pipeline's call (FLUX's max_sequence_length);
- `cpu_offload` (enable_model_cpu_offload, CUDA), `attention_slicing`;
- `max_batch_size` (default 4 on CPU, 16 on CUDA), `batch_wait_ms`, `fixed_batch`, `threads`.

The cache key holds the effective settings: the options, the pipeline's defaults for what
they leave unset (read from its class), its scheduler, the diffusers version and the folder's
configs. Nothing is ever fetched from the hub.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import diffusers
import torch
import yaml
from pydantic import AfterValidator, Field, field_validator, model_validator

from skillmix.errors import BackendError, SkillmixError
from skillmix.models import hf
from skillmix.models.base import (
    BackendSettings,
    GeneratedImage,
    ModelOutput,
    ModelRequest,
    parse_options,
)
from skillmix.models.batching import LOADING, BatchingBackend, BatchOptions
from skillmix.models.images import parse_size
from skillmix.records import message_text

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_BATCH_SIZE = {"cpu": 4, "cuda": 16}
DEFAULT_BATCH_WAIT_MS = 20
INDEX = "model_index.json"
PRESETS = "diffusion_presets.yaml"
VOLATILE_KEYS = frozenset({"_diffusers_version", "_name_or_path", "transformers_version"})


def check_device(value: str) -> str:
    """auto (cuda where available, else cpu), or a device as hf/ takes it."""
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return hf.check_device(value)


@cache
def presets() -> dict[str, dict[str, Any]]:
    text = resources.files("skillmix.models").joinpath(PRESETS).read_text(encoding="utf-8")
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return loaded


class DiffusionOptions(BatchOptions):
    preset: str | None = None  # the ConceptMix paper's settings for a model (PRESETS)
    device: Annotated[str, AfterValidator(check_device)] = Field(
        default="auto", validate_default=True
    )
    dtype: Literal["float32", "bfloat16", "float16"] | None = None
    steps: int | None = Field(default=None, gt=0, le=1000)
    guidance: float | None = Field(default=None, ge=0)
    size: str | None = None  # WIDTHxHEIGHT
    negative_prompt: str | None = None
    scheduler: str | None = None  # a diffusers scheduler class name
    # further arguments of the pipeline's call (e.g. FLUX's max_sequence_length)
    call_args: dict[str, int | float | str | bool] = Field(default_factory=dict)
    fixed_batch: bool = True  # pad every call to max_batch_size (see the module doc)
    cpu_offload: bool = False
    attention_slicing: bool = False
    threads: int | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """A preset's settings, under what the entry sets itself."""
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        name = data["preset"]
        if name not in presets():
            known = ", ".join(presets())
            raise ValueError(f"unknown preset {name!r} (known: {known})")
        return {**presets()[name], **{key: v for key, v in data.items() if v is not None}}

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None:
            width, _, height = value.partition("x")
            if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
                raise ValueError(f"expected WIDTHxHEIGHT (e.g. 512x512), not {value!r}")
        return value

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value: str | None) -> str | None:
        if value is not None and not (value.endswith("Scheduler") and hasattr(diffusers, value)):
            raise ValueError(f"not a diffusers scheduler class: {value!r}")
        return value


@dataclass(frozen=True)
class Folder:
    """A saved pipeline: its class, its default scheduler and a hash of its configs."""

    path: Path
    pipeline: str
    scheduler: str | None
    configs_hash: str


def read_folder(name: str) -> Folder:
    path = Path(name).expanduser()
    index = path / INDEX
    if not index.is_file():
        raise SkillmixError(f"diffusers model '{name}' is not a saved pipeline folder ({INDEX})")
    found = json.loads(index.read_text(encoding="utf-8"))
    pipeline = str(found.get("_class_name", ""))
    if not hasattr(diffusers, pipeline):
        raise SkillmixError(f"diffusers has no pipeline {pipeline!r} ({index})")
    configs = [*sorted(path.glob("*/*config*.json")), index]
    digest = hashlib.sha256()
    for config in configs:
        kept = {
            key: value
            for key, value in json.loads(config.read_text(encoding="utf-8")).items()
            if key not in VOLATILE_KEYS
        }
        digest.update(f"{config.relative_to(path)}|{json.dumps(kept, sort_keys=True)}".encode())
    scheduler = found.get("scheduler")
    default_scheduler = scheduler[1] if isinstance(scheduler, list) else None
    return Folder(path.resolve(), pipeline, default_scheduler, digest.hexdigest()[:12])


def call_defaults(pipeline: str) -> dict[str, Any]:
    """The pipeline's own defaults for what the options may leave unset."""
    parameters = inspect.signature(getattr(diffusers, pipeline).__call__).parameters
    names = {"steps": "num_inference_steps", "guidance": "guidance_scale"}
    return {
        ours: parameters[theirs].default
        for ours, theirs in names.items()
        if theirs in parameters and parameters[theirs].default is not inspect.Parameter.empty
    }


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class DiffusionBackend(BatchingBackend):
    prefix = "diffusers"
    makes_images = True
    options_model = DiffusionOptions
    options: DiffusionOptions

    def __init__(self, name: str, settings: BackendSettings):
        self.device = torch.device(parse_options(DiffusionOptions, settings.options).device)
        batch_size = DEFAULT_BATCH_SIZE[self.device.type]
        super().__init__(name, settings, batch_size, DEFAULT_BATCH_WAIT_MS)
        self.dtype_name = self.options.dtype or (
            "bfloat16" if self.device.type == "cuda" else "float32"
        )
        self.folder = read_folder(name)
        self.defaults = call_defaults(self.folder.pipeline)
        self._pipe: Any = None
        self._lock = threading.Lock()
        self.batch_sizes: list[int] = []  # batches run, in order (for tests, benchmarks)

    @property
    def resolved_model(self) -> str:
        return f"{self.folder.path.name}:{self.folder.configs_hash}:{self.dtype_name}"

    @property
    def output_size(self) -> tuple[int, int] | None:
        return None if self.options.size is None else parse_size(self.options.size)

    def key_settings(self) -> dict[str, Any]:
        options = self.options
        return {
            "pipeline": self.folder.pipeline,
            "diffusers": diffusers.__version__,
            "dtype": self.dtype_name,
            "steps": options.steps or self.defaults.get("steps"),
            "guidance": self.defaults.get("guidance")
            if options.guidance is None
            else options.guidance,
            "size": options.size or "default",
            "negative_prompt": options.negative_prompt,
            "scheduler": options.scheduler or self.folder.scheduler,
            "call_args": options.call_args,
            "batch": self.max_batch_size if options.fixed_batch else "any",
        }

    def _load(self) -> Any:
        with LOADING:
            if self._pipe is None:
                if self.options.threads is not None:
                    torch.set_num_threads(self.options.threads)
                loader: Any = diffusers.DiffusionPipeline
                pipe = loader.from_pretrained(
                    str(self.folder.path), local_files_only=True, dtype=DTYPES[self.dtype_name]
                )
                if self.options.scheduler is not None:
                    scheduler = getattr(diffusers, self.options.scheduler)
                    pipe.scheduler = scheduler.from_config(pipe.scheduler.config)
                if self.options.attention_slicing:
                    pipe.enable_attention_slicing()
                if self.options.cpu_offload:
                    pipe.enable_model_cpu_offload()
                else:
                    pipe.to(self.device)
                pipe.set_progress_bar_config(disable=True)
                self._pipe = pipe
        return self._pipe

    def call_arguments(self, requests: list[ModelRequest]) -> dict[str, Any]:
        """The pipeline call for the requests, then any filler rows (see the module doc)."""
        options = self.options
        prompts = [message_text(r.messages[-1]) for r in requests]
        seeds = [r.seed for r in requests]
        if options.fixed_batch:
            fillers = self.max_batch_size - len(requests)
            prompts, seeds = prompts + [""] * fillers, seeds + [0] * fillers
        arguments: dict[str, Any] = {
            **options.call_args,
            "prompt": prompts,
            "generator": [torch.Generator(self.device).manual_seed(seed) for seed in seeds],
            "output_type": "pil",
        }
        if options.steps is not None:
            arguments["num_inference_steps"] = options.steps
        if options.guidance is not None:
            arguments["guidance_scale"] = options.guidance
        if options.size is not None:
            width, _, height = options.size.partition("x")
            arguments["width"], arguments["height"] = int(width), int(height)
        if options.negative_prompt is not None:
            arguments["negative_prompt"] = [options.negative_prompt] * len(prompts)
        return arguments

    def run_batch(self, requests: list[ModelRequest]) -> list[ModelOutput | BackendError]:
        with self._lock, torch.inference_mode():
            pipe = self._load()
            self.batch_sizes.append(len(requests))
            images = pipe(**self.call_arguments(requests)).images[: len(requests)]
        return [
            ModelOutput(text="", images=(GeneratedImage(png_bytes(image), "image/png"),))
            for image in images
        ]

    def release(self) -> None:
        with self._lock:
            self._pipe = None

    def batch_error(self, exc: Exception) -> Exception:
        return hf.out_of_memory(exc)
