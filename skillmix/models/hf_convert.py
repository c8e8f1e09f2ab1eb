"""A GGUF model converted once into a plain safetensors folder that transformers loads fast.

Reading a GGUF through transformers de-quantizes every tensor (about 20 s for SmolLM2-135M on
2 cores); the converted folder loads in well under a second. The folder is cached outside the
repository, by default in `~/.cache/skillmix/hf/<gguf stem>-<gguf size>`.

The conversion writes into a temporary folder beside the target and renames it into place, so
a killed conversion never leaves a half-written target, and two concurrent conversions (threads
or processes) both end with the same complete folder: the first rename wins, the loser discards
its copy. A file lock avoids converting twice at once; whoever holds it removes temporary folders
left behind by killed conversions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from filelock import FileLock

# Never reach the hub: every load below is from local files (set before transformers loads).
os.environ["HF_HUB_OFFLINE"] = "1"

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from skillmix.errors import SkillmixError

MARKER = "skillmix-converted.json"  # written last: a folder holding it is complete


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "skillmix" / "hf"


def converted_name(gguf: Path) -> str:
    return f"{gguf.stem}-{gguf.stat().st_size}"


def is_converted(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def ensure_converted(gguf: Path, cache_dir: Path | None = None) -> Path:
    """The safetensors folder for `gguf`, converting it first unless already cached."""
    if not gguf.is_file():
        raise SkillmixError(f"GGUF file not found: {gguf}")
    root = cache_dir if cache_dir is not None else default_cache_dir()
    target = root / converted_name(gguf)
    if is_converted(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{target.name}.lock")):
        if is_converted(target):  # converted by another process while we waited
            return target
        for stale in root.glob(f".{target.name}.tmp-*"):  # left by a killed conversion
            shutil.rmtree(stale, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
        try:
            convert(gguf, temp)
            if target.exists():  # incomplete: not written by this module; set it aside
                shutil.rmtree(target)
            os.replace(temp, target)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    if not is_converted(target):
        raise SkillmixError(f"converting {gguf.name} did not produce {target}")
    return target


def convert(gguf: Path, out: Path) -> None:
    """Write model, tokenizer and generation config of `gguf` into the folder `out`.

    `save_pretrained` refuses a GGUF-loaded model (it carries a GGUF quantization config), so a
    fresh model is built from the same config without it and given the de-quantized weights.
    """
    from transformers.utils import logging

    logging.disable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, local_files_only=True, dtype=torch.float32
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = gguf.stem
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call, unused-ignore]
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    source = {"gguf": gguf.name, "size": gguf.stat().st_size, "converted_at": time.time()}
    (out / MARKER).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
