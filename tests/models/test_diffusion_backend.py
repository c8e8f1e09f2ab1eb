"""The `diffusers/` backend on tiny random pipelines saved to a folder (tests/helpers/
tiny_pipelines.py): real from_pretrained loading, text encoders, scheduler loop and VAE decode.
An image is the same bytes alone or in any batch, its seed decides it, and everything that
decides it is in the cache key."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers")

import torch

from skillmix.config import ModelEntry
from skillmix.errors import SkillmixError
from skillmix.models import ChatMessage, GenerationParams, ModelRequest, create_backend
from skillmix.models.diffusion import DiffusionBackend
from skillmix.models.images import image_size
from skillmix.run.calls import Call, content_key
from tests.helpers.tiny_pipelines import save_tiny_flux, save_tiny_sd

PROMPTS = ("a red cat", "two green apples", "a dog on top of a car")
BUILDERS: dict[str, Callable[[Path], Path]] = {"sd": save_tiny_sd, "flux": save_tiny_flux}
FLUX_ARGS = {"max_sequence_length": 64}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipelines")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def backend(folder: Path, **options: Any) -> DiffusionBackend:
    options = {"steps": 2, "size": "32x32", "device": "cpu", **options}
    if folder.name == "flux":
        options.setdefault("call_args", FLUX_ARGS)
    entry = ModelEntry(model=f"diffusers/{folder}", options=options)
    found = create_backend(entry.model, entry.settings)
    assert isinstance(found, DiffusionBackend)
    return found


def request(prompt: str, seed: int) -> ModelRequest:
    messages: list[ChatMessage] = [{"role": "user", "content": prompt}]
    return ModelRequest(messages=messages, params=GenerationParams(), seed=seed)


def images(found: DiffusionBackend, requests: list[ModelRequest]) -> list[bytes]:
    outputs = found.run_batch(requests)
    return [o.images[0].data for o in outputs if not isinstance(o, Exception)]


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_an_image_is_the_same_alone_or_in_a_batch(folders: dict[str, Path], kind: str) -> None:
    found = backend(folders[kind])
    requests = [request(prompt, seed) for seed, prompt in enumerate(PROMPTS, 11)]
    batched = images(found, requests)
    alone = [images(found, [r])[0] for r in requests]
    assert batched == alone  # bit-identical PNGs
    assert len(set(batched)) == len(PROMPTS)
    assert all(image_size(data) == (32, 32) for data in batched)
    assert found.batch_sizes == [3, 1, 1, 1]


def test_the_seed_decides_the_image(folders: dict[str, Path]) -> None:
    found = backend(folders["sd"])
    first, again, other = images(
        found, [request(PROMPTS[0], 5), request(PROMPTS[0], 5), request(PROMPTS[0], 6)]
    )
    assert first == again != other


def test_concurrent_calls_run_as_one_batch(folders: dict[str, Path]) -> None:
    found = backend(folders["sd"], max_batch_size=4, batch_wait_ms=200)

    async def draw() -> list[bytes]:
        outputs = await asyncio.gather(
            *(found.generate(request(p, seed)) for seed, p in enumerate(PROMPTS))
        )
        await found.aclose()
        return [o.images[0].data for o in outputs]

    drawn = asyncio.run(draw())
    assert found.batch_sizes == [3]
    assert drawn == [images(found, [request(p, seed)])[0] for seed, p in enumerate(PROMPTS)]


def test_the_key_holds_the_effective_settings(folders: dict[str, Path]) -> None:
    found = backend(folders["sd"], steps=None)
    settings = found.key_settings()
    assert settings["pipeline"] == "StableDiffusionPipeline"
    assert settings["steps"] == 50 and settings["guidance"] == 7.5  # the pipeline's defaults
    assert settings["scheduler"] == "EulerDiscreteScheduler"
    assert settings["diffusers"]
    entry = ModelEntry(model=f"diffusers/{folders['sd']}")
    call = Call(type("Slot", (), {"item_id": "k1-0001"})(), 0, "image")
    keys = {
        content_key(entry, backend(folders["sd"], **change), request("x", 1), call)
        for change in ({}, {"steps": 3}, {"guidance": 2.0}, {"scheduler": "DDIMScheduler"})
    }
    assert len(keys) == 4


def test_another_scheduler_draws_another_image(folders: dict[str, Path]) -> None:
    euler = images(backend(folders["sd"]), [request(PROMPTS[0], 1)])
    ddim = images(backend(folders["sd"], scheduler="DDIMScheduler"), [request(PROMPTS[0], 1)])
    assert euler != ddim


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"size": "big"}, "size"),
        ({"scheduler": "FastScheduler"}, "scheduler"),
        ({"steps": 0}, "steps"),
        ({"dtype": "float8"}, "dtype"),
        ({"device": "tpu"}, "device"),
        ({"preset": "sd-v9"}, "unknown preset 'sd-v9'"),
    ],
)
def test_bad_options_name_the_option(
    folders: dict[str, Path], options: dict[str, Any], field: str
) -> None:
    with pytest.raises(SkillmixError, match=field):
        backend(folders["sd"], **options)


def test_a_folder_that_is_no_pipeline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SkillmixError, match=r"model_index\.json"):
        backend(tmp_path)


def test_without_a_fixed_batch_shape_images_differ_by_rounding_at_most(
    folders: dict[str, Path],
) -> None:
    import numpy as np
    from PIL import Image

    found = backend(folders["sd"], fixed_batch=False)
    requests = [request(prompt, seed) for seed, prompt in enumerate(PROMPTS, 11)]
    batched = images(found, requests)
    alone = [images(found, [r])[0] for r in requests]
    for one, many in zip(alone, batched, strict=True):
        a, b = (np.asarray(Image.open(io.BytesIO(data)), dtype=int) for data in (one, many))
        assert np.abs(a - b).max() <= 1  # a pixel may flip by one level, no more
    assert found.key_settings()["batch"] == "any"


def test_a_preset_fills_in_what_the_entry_leaves_unset(folders: dict[str, Path]) -> None:
    turbo = backend(folders["sd"], preset="sdxl-turbo", steps=None, size=None).key_settings()
    assert (turbo["steps"], turbo["guidance"], turbo["size"], turbo["dtype"]) == (
        1,
        0.0,
        "512x512",
        "float32",
    )
    mine = backend(folders["sd"], preset="sdxl-turbo", steps=2).key_settings()
    assert (mine["steps"], mine["size"]) == (2, "32x32")  # the entry's own settings win


def test_the_default_device_is_resolved(folders: dict[str, Path]) -> None:
    entry = ModelEntry(model=f"diffusers/{folders['sd']}")
    found = create_backend(entry.model, entry.settings)
    assert isinstance(found, DiffusionBackend)
    assert found.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
