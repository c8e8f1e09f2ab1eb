"""What a fine-tuned model folder was trained on, so that an evaluation can tell items it has
seen from items it has not.

`skillmix export-sft` writes a `TrainingData` manifest beside its JSONL; `skillmix finetune`
copies it, with its own settings and losses, into `skillmix-finetune.json` in the model folder
it saves. The `hf/` and `vllm/` backends load that folder like any other; a run reads the file
to flag items whose skills were in the training data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from skillmix.errors import SkillmixError

PROVENANCE_FILE = "skillmix-finetune.json"
MANIFEST_SUFFIX = ".manifest.json"  # beside an export: train.jsonl -> train.jsonl.manifest.json
MANIFEST_FORMAT = "skillmix-sft/1"
T = TypeVar("T", bound=BaseModel)


class SourceRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    run_dir: str


class TrainingData(BaseModel):
    """An export's manifest: where its examples came from and what they hold."""

    model_config = ConfigDict(extra="forbid")

    format: str = MANIFEST_FORMAT
    data_file: str  # the JSONL's name, beside the manifest
    data_sha256: str  # of the JSONL's bytes
    examples: int
    runs: list[SourceRun]
    selection: dict[str, Any]  # the export filter: only, k, students, include_held_out
    split: dict[str, Any] | None  # the split definition and the part exported; None: no split
    skills: list[str]  # every skill some example holds, sorted
    topics: list[str]  # every topic some example holds, sorted
    left_out: dict[str, int]  # why candidates were not exported -> how many


class FinetuneProvenance(BaseModel):
    """`skillmix-finetune.json` in a fine-tuned model folder."""

    model_config = ConfigDict(extra="forbid")

    base_model: str  # as configured (a bundled name or a folder)
    data: TrainingData
    settings: dict[str, Any]  # the fine-tune settings as run (epochs, learning rate, LoRA ...)
    steps: int
    losses: list[float]  # training loss per logged step, in order
    train_seconds: float
    versions: dict[str, str]  # torch, transformers, trl, peft, datasets


def manifest_path(data_file: Path) -> Path:
    return data_file.with_name(data_file.name + MANIFEST_SUFFIX)


def read_manifest(data_file: Path) -> TrainingData | None:
    """The manifest beside an export, or None when there is none (a JSONL from elsewhere)."""
    path = manifest_path(data_file)
    if not path.is_file():
        return None
    return _read(path, TrainingData)


def read_provenance(folder: Path) -> FinetuneProvenance | None:
    """The provenance a fine-tuned folder carries, or None for any other model folder."""
    path = folder / PROVENANCE_FILE
    if not path.is_file():
        return None
    return _read(path, FinetuneProvenance)


def _read(path: Path, model: type[T]) -> T:
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SkillmixError(f"not a JSON file ({exc})", file=path) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise SkillmixError(first["msg"], file=path, field=where) from None


FOLDER_BACKENDS = ("hf", "vllm", "vllm-server")  # the backends that load a model folder


def model_provenance(model: str) -> FinetuneProvenance | None:
    """The provenance of a model string's folder (`hf/runs/sft/model`), if it has one."""
    prefix, _, name = model.partition("/")
    if prefix not in FOLDER_BACKENDS or not name:
        return None
    folder = Path(name).expanduser()
    return read_provenance(folder) if folder.is_dir() else None


def provenance_hash(folder: Path) -> str | None:
    """A short hash of a folder's provenance file: a retrained folder answers differently."""
    path = folder / PROVENANCE_FILE
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
