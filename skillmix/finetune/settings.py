"""What `skillmix finetune` is given: its settings (a YAML file validated by pydantic) and the
chat examples they name (JSONL, checked line by line and against the manifest beside it).

Relative paths (data, output_dir, a model folder) resolve against the working directory, as
in a run config.
Every count has an upper bound, and true/false is never a number (as in skillmix.config).

dtype is the precision the model is loaded, trained and saved in: float32 (the default),
bfloat16 (with autocast; a GPU from Ampere on, or a CPU), or float16, which trains LoRA
adapters only (their weights stay float32, with loss scaling: full fine-tuning in float16
diverges) and needs a CUDA device.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from skillmix.config import FilePath, Number, Strict
from skillmix.errors import SkillmixError, describe_validation
from skillmix.models.llamacpp import BUNDLED
from skillmix.models.provenance import TrainingData, manifest_path, read_manifest
from skillmix.yamlfile import NotText, decode_text, load_yaml

MAX_EPOCHS = 10_000
MAX_STEPS = 100_000_000
MAX_BATCH_SIZE = 65_536
MAX_ACCUMULATION = 65_536
MAX_LENGTH = 1_048_576
MIN_LENGTH = 16
MAX_LORA_RANK = 4_096
SEED_RANGE = (0, 2**32 - 1)  # numpy's seeding (transformers' set_seed) takes no more
Dtype = Literal["float32", "bfloat16", "float16"]
Device = Literal["auto", "cpu", "cuda"]
ModuleName = Annotated[str, Field(min_length=1, strict=True)]
ROLES = frozenset({"system", "user", "assistant"})  # of a message in an example
Progress = Callable[[str], None]  # takes one line of progress


class LoraSettings(Strict):
    """A LoRA adapter (PEFT), merged into the model before it is saved."""

    r: int = Field(default=16, gt=0, le=MAX_LORA_RANK, strict=True)
    alpha: Number = Field(default=32, gt=0, le=1e6)
    dropout: Number = Field(default=0.05, ge=0, lt=1)
    # "all-linear": every linear layer but the output head; or the module names, e.g. q_proj
    target_modules: Literal["all-linear"] | list[ModuleName] = "all-linear"

    @field_validator("target_modules")
    @classmethod
    def _some_unique(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError('name at least one module, or give "all-linear"')
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("a module is named twice")
        return value


class FinetuneSettings(Strict):
    model: Annotated[str, Field(min_length=1, strict=True)]  # bundled name or local folder
    data: FilePath  # chat examples (JSONL), as `skillmix export-sft` writes them
    output_dir: FilePath  # the fine-tuned model folder
    epochs: Number = Field(default=1, gt=0, le=MAX_EPOCHS)
    max_steps: int | None = Field(default=None, gt=0, le=MAX_STEPS, strict=True)  # over epochs
    learning_rate: Number = Field(default=2e-5, gt=0, le=1)
    batch_size: int = Field(default=8, ge=1, le=MAX_BATCH_SIZE, strict=True)  # per device
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=MAX_ACCUMULATION, strict=True)
    max_length: int = Field(default=1024, ge=MIN_LENGTH, le=MAX_LENGTH, strict=True)  # tokens
    seed: int = Field(default=0, ge=SEED_RANGE[0], le=SEED_RANGE[1], strict=True)
    logging_steps: int = Field(default=1, ge=1, le=MAX_STEPS, strict=True)
    dtype: Dtype = "float32"
    device: Device = "auto"
    # recompute activations in the backward pass: less memory, about 20% slower
    gradient_checkpointing: bool = Field(default=False, strict=True)
    lora: LoraSettings | None = None

    def resolved(self, base: Path) -> FinetuneSettings:
        """The settings with relative paths taken relative to `base`."""
        model = self.model
        if model not in BUNDLED:
            model = str(_against(Path(model), base))
        update = {"model": model, "data": _against(self.data, base)}
        return self.model_copy(update=update | {"output_dir": _against(self.output_dir, base)})


def _against(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def parse_settings(data: Any, source: Path) -> FinetuneSettings:
    """Validated settings, relative paths resolved against the working directory."""
    if not isinstance(data, dict):
        raise SkillmixError("expected a mapping of config keys", file=source)
    try:
        settings = FinetuneSettings.model_validate(data)
    except ValidationError as exc:
        field, message = describe_validation(exc)
        raise SkillmixError(message, file=source, field=field or None) from None
    if settings.dtype == "float16" and settings.lora is None:
        raise SkillmixError(
            "float16 trains LoRA adapters only (full fine-tuning in float16 diverges): "
            "set lora, or use bfloat16 or float32",
            file=source,
            field="dtype",
        )
    return settings.resolved(Path.cwd())


def load_settings(path: Path) -> FinetuneSettings:
    if not path.is_file():
        raise SkillmixError("config file not found", file=path)
    return parse_settings(load_yaml(path), path)


# -- the data ----------------------------------------------------------------------------------


def training_data(path: Path, say: Progress) -> TrainingData:
    """The JSONL's manifest (checked against its bytes), or one made from the file alone."""
    raw, count = read_examples(path)
    digest = hashlib.sha256(raw).hexdigest()
    manifest = read_manifest(path)
    if manifest is None:
        say(
            f"data: {path} ({count} examples); no manifest beside it: the model will carry no "
            "provenance of the runs its examples came from"
        )
        return TrainingData(
            data_file=path.name,
            data_sha256=digest,
            examples=count,
            runs=[],
            selection={},
            split=None,
            skills=[],
            topics=[],
            left_out={},
        )
    if manifest.data_sha256 != digest:
        raise SkillmixError(
            f"the data changed since it was exported: its sha256 is not the one "
            f"{manifest_path(path).name} records (export it again)",
            file=path,
        )
    if manifest.examples != count:
        raise SkillmixError(
            f"{manifest_path(path).name} records {manifest.examples} examples, the file holds "
            f"{count}",
            file=path,
        )
    say(f"data: {path} ({count} examples from {len(manifest.runs)} run(s))")
    return manifest


def read_examples(path: Path) -> tuple[bytes, int]:
    """The file's bytes and its number of examples; a line that is not one is an error."""
    try:
        raw = path.read_bytes()
        text = decode_text(raw)
    except FileNotFoundError:
        raise SkillmixError("data file not found", file=path) from None
    except OSError as exc:
        raise SkillmixError(f"cannot read the data ({exc.strerror or exc})", file=path) from None
    except NotText as exc:
        raise SkillmixError(str(exc), file=path) from None
    lines = text.split("\n")  # not splitlines(): JSON strings may hold U+2028 and the like
    if lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last line
    for number, line in enumerate(lines, 1):
        problem = _example_problem(line)
        if problem:
            raise SkillmixError(problem, file=path, field=f"line {number}")
    if not lines:
        raise SkillmixError("no examples: the file is empty", file=path)
    return raw, len(lines)


def _example_problem(line: str) -> str | None:
    """What is wrong with one JSONL line as a chat example (OpenAI's fine-tuning format)."""
    try:
        example = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg})" if line.strip() else "an empty line, not an example"
    if not isinstance(example, dict) or "messages" not in example:
        return 'expected an object with a "messages" list'
    if extra := sorted(set(example) - {"messages"}):
        return f"unknown key {extra[0]!r} (an example holds only messages)"
    messages = example["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            return f"{where} must be an object with exactly role and content"
        if message["role"] not in ROLES:
            return f"{where} has role {message['role']!r} (system, user or assistant)"
        if not isinstance(message["content"], str):
            return f"{where} content must be a string"
    if messages[-1]["role"] != "assistant":
        return "does not end with an assistant message (the answer to train on)"
    if not messages[-1]["content"].strip():
        return "the assistant answer is empty"
    if not any(message["role"] == "user" for message in messages[:-1]):
        return "has no user message before the answer"
    return None


# -- the device --------------------------------------------------------------------------------


def pick_device(settings: FinetuneSettings, source: Path | str) -> str:
    """The device to train on ("cpu" or "cuda"), refused where the settings cannot run."""
    import torch

    cuda = torch.cuda.is_available()
    if settings.device == "cuda" and not cuda:
        raise SkillmixError("no CUDA device is available", file=source, field="device")
    device = "cuda" if cuda and settings.device != "cpu" else "cpu"
    if settings.dtype == "float16" and device == "cpu":
        raise SkillmixError("float16 needs a CUDA device", file=source, field="dtype")
    if settings.dtype == "bfloat16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise SkillmixError("this GPU does not support bfloat16", file=source, field="dtype")
    return device
