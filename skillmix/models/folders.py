"""Model names of the in-process backends (hf, vllm, vllm-server): a bundled model or a folder.

A bundled name (`smollm2`) stands for the GGUF of its package, converted once into a
safetensors folder (hf_convert); any other name is the path of a local folder holding a saved
model and tokenizer. Nothing is ever fetched from the hub.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from skillmix.errors import SkillmixError
from skillmix.models.llamacpp import BUNDLED, gguf_path
from skillmix.models.provenance import provenance_hash

# config.json keys that change with the writer, not with the model
VOLATILE_CONFIG_KEYS = frozenset({"transformers_version", "_name_or_path"})


def check_model_name(prefix: str, name: str) -> None:
    """Fail early (at config validation) on a name that is neither bundled nor a model folder."""
    if name in BUNDLED:
        gguf_path(name)  # the bundled package is installed
        return
    path = Path(name).expanduser()
    if not path.is_dir():
        raise SkillmixError(f"{prefix} model '{name}' is neither a bundled model nor a folder")
    if not (path / "config.json").is_file():
        raise SkillmixError(
            f"{prefix} model folder '{name}' has no config.json (not a saved model)"
        )


def model_folder(prefix: str, name: str) -> Path:
    """The saved-model folder a model name stands for (a bundled model is converted now)."""
    check_model_name(prefix, name)
    if name in BUNDLED:
        from skillmix.models.hf_convert import ensure_converted  # imports torch, transformers

        return ensure_converted(gguf_path(name))
    return Path(name).expanduser().resolve()


def config_hash(folder: Path) -> str:
    """A short hash of the model's config.json, without the keys that name the writer."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    kept = {k: v for k, v in config.items() if k not in VOLATILE_CONFIG_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def folder_identity(folder: Path, dtype: str | None) -> str:
    """What answers, for the run store and cache keys: the folder, its config and the dtype
    (replies differ between dtypes, so a run in another dtype must not reuse them), and for a
    fine-tuned folder its training (weights retrained in place keep their config.json)."""
    identity = f"{folder.name}:{config_hash(folder)}"
    if trained := provenance_hash(folder):  # a fine-tuned folder: its training, too
        identity = f"{identity}:{trained}"
    return f"{identity}:{dtype}" if dtype else identity


def is_vision_folder(name: str) -> bool:
    """Whether a model name is the folder of a vision-language model (a vision_config)."""
    config = Path(name).expanduser() / "config.json"
    if not config.is_file():
        return False
    try:
        return "vision_config" in json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the text path reports the folder's problem
