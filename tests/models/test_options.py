"""Typed backend options: a misspelt or ill-typed option is one error line naming the config file
and `students[i].options.<key>` (or `grader.options.<key>`), exit 2, for every backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import ModelEntry
from skillmix.errors import SkillmixError
from skillmix.models import BACKENDS, BackendSettings, backend_class, create_backend, defaults
from skillmix.models.llamacpp import LlamaCppOptions
from skillmix.models.retry import RetryPolicy
from tests.helpers.configs import model_entry, run_config, write_config

HAS_TORCH = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch and transformers")

# (model string, options, field under students[0].options, message)
MISSPELT = [
    ("llamacpp/smollm2", {"n_ctxx": 4096}, "n_ctxx", "unknown key"),
    ("openai/gpt-4o-mini", {"json_modes": "none"}, "json_modes", "unknown key"),
    ("anthropic/claude-3-5-haiku", {"sampling_param": True}, "sampling_param", "unknown key"),
    pytest.param("hf/smollm2", {"max_batch": 4}, "max_batch", "unknown key", marks=needs_torch),
    ("scripted/nobody", {"concurency": 2}, "concurency", "unknown key"),
    ("imported/gpt-4", {"n_ctx": 2048}, "n_ctx", "unknown key"),
    # vLLM itself is needed only to run: options are checked before it is looked for
    ("vllm/smollm2", {"max_model_length": 2048}, "max_model_length", "unknown key"),
    ("vllm-server/smollm2", {"engine_args": {}}, "engine_args", "unknown key"),
]
ILL_TYPED = [
    ("llamacpp/smollm2", {"n_ctx": "big"}, "n_ctx", "Input should be a valid integer"),
    ("llamacpp/smollm2", {"n_threads": True}, "n_threads", "Input should be a valid integer"),
    (
        "llamacpp/smollm2",
        {"llama_args": {"seed": 3}},
        "llama_args",
        "seed is not a llama_args key (a typed option, or set here)",
    ),
    (
        "openai/gpt-4o-mini",
        {"json_mode": "yaml"},
        "json_mode",
        "Input should be 'json_schema', 'json_object' or 'none'",
    ),
    (
        "anthropic/claude-3-5-haiku",
        {"sampling_params": "yes"},
        "sampling_params",
        "Input should be a valid boolean",
    ),
    pytest.param(
        "hf/smollm2",
        {"max_batch_size": 0},
        "max_batch_size",
        "Input should be greater than 0",
        marks=needs_torch,
    ),
    pytest.param(
        "hf/smollm2",
        {"device": "tpu"},
        "device",
        "not a device: 'tpu'",
        marks=needs_torch,
    ),
    (
        "scripted/nobody",
        {"supports_json_schema": "no"},
        "supports_json_schema",
        "Input should be a valid boolean",
    ),
    (
        "vllm/smollm2",
        {"gpu_memory_utilization": 1.5},
        "gpu_memory_utilization",
        "Input should be less than or equal to 1",
    ),
    (
        "vllm-server/smollm2",
        {"extra_args": ["--swap-space", 4]},
        "extra_args[1]",
        "Input should be a valid string",
    ),
]


@pytest.fixture(autouse=True)
def api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")


def eval_error(config: dict[str, Any], path: Path) -> str:
    """`skillmix eval` on the config: exit 2 with exactly one stderr line, which is returned."""
    write_config(path, config)
    result = CliRunner().invoke(app, ["eval", str(path)])
    shown = f"exit {result.exit_code}\nstderr: {result.stderr!r}\n{result.exception!r}"
    assert result.exit_code == 2, shown
    assert result.stdout == "", shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert not Path(config["output_dir"]).exists(), "the run store was created"
    return lines[0]


def student_config(tmp_path: Path, model: str, options: dict[str, Any]) -> dict[str, Any]:
    student = model_entry(model, options=options)
    return run_config(tmp_path / "run", students=[student], grader="imported/grader")


@pytest.mark.parametrize(("model", "options", "key", "message"), MISSPELT + ILL_TYPED)
def test_bad_option_is_one_line_naming_file_and_field(
    tmp_path: Path, model: str, options: dict[str, Any], key: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    line = eval_error(student_config(tmp_path, model, options), path)
    assert line == f"error: {path}: students[0].options.{key}: {message}"


def test_bad_grader_option_names_the_grader(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    grader = model_entry("openai/gpt-4o-mini", options={"max_tokens_field": "max_output"})
    config = run_config(tmp_path / "run", students="imported/student", grader=grader)
    line = eval_error(config, path)
    expected = "Input should be 'max_tokens' or 'max_completion_tokens'"
    assert line == f"error: {path}: grader.options.max_tokens_field: {expected}"


def test_a_backend_error_without_a_field_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    line = eval_error(student_config(tmp_path, "scripted/nobody", {}), path)
    assert line.startswith(f"error: {path}: students[0]: no scripted handler named 'nobody'")


@pytest.mark.parametrize("prefix", sorted(BACKENDS))
def test_each_backend_narrows_options_to_its_options_model(prefix: str) -> None:
    if prefix == "hf" and not HAS_TORCH:
        pytest.skip("needs torch and transformers")
    cls = backend_class(prefix)
    assert get_type_hints(cls)["options"] is cls.options_model


def test_llamacpp_passes_its_two_defaults_and_only_the_options_given() -> None:
    assert LlamaCppOptions().llama_kwargs() == {"n_ctx": 2048, "n_threads": 2}
    given = LlamaCppOptions.model_validate(
        {"n_ctx": 4096, "n_gpu_layers": -1, "llama_args": {"n_ubatch": 256}}
    )
    assert given.llama_kwargs() == {
        "n_ctx": 4096,
        "n_threads": 2,
        "n_gpu_layers": -1,
        "n_ubatch": 256,
    }


def test_options_reach_the_backend_typed() -> None:
    backend = create_backend("imported/x", BackendSettings())
    assert backend.options.model_dump() == {}
    with pytest.raises(SkillmixError, match=r"^options\.json_mode: Input should be"):
        create_backend("openai/gpt-4o-mini", BackendSettings(options={"json_mode": 1}))


def test_entry_settings_and_retries_share_one_set_of_defaults() -> None:
    entry = ModelEntry(model="imported/x")
    assert entry.timeout_s == BackendSettings().timeout_s == defaults.TIMEOUT_S
    assert entry.retry_policy == RetryPolicy()
    assert RetryPolicy() == RetryPolicy(
        defaults.RETRIES, defaults.BACKOFF_S, defaults.BACKOFF_MAX_S
    )
    assert entry.settings.options == {}  # raw, as given: the backend-sharing key uses it
