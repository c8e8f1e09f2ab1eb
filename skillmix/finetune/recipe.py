"""`skillmix finetune`: supervised fine-tuning of a local model with TRL's SFTTrainer.

Each example's last message (the assistant's answer) is the completion and every message before
it the prompt (TRL's conversational prompt-completion form), so the loss is on the answer's
tokens only. With `lora`, a PEFT adapter is trained and merged: the saved folder is a plain
model that `hf/PATH` and `vllm/PATH` load without peft.

Everything is checked before any training (the data, the manifest beside it, the model, the
device, the output folder), each problem one line. The folder is written into a temporary
sibling and renamed into place once complete, with `skillmix-finetune.json` (provenance)
written last. Rerun the same config and the folder is kept: a folder whose provenance has the
same data (by sha256) and settings is not trained again; a folder holding anything else is
replaced only with `overwrite`.

torch, transformers, TRL, PEFT and datasets are imported only when a model is checked or trained.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from skillmix.errors import SkillmixError
from skillmix.finetune.settings import (
    FinetuneSettings,
    Progress,
    load_settings,
    pick_device,
    training_data,
)
from skillmix.models.folders import model_folder
from skillmix.models.provenance import (
    PROVENANCE_FILE,
    FinetuneProvenance,
    TrainingData,
    read_provenance,
)

if TYPE_CHECKING:
    from trl.trainer.sft_trainer import SFTTrainer

VERSIONED = ("torch", "transformers", "trl", "peft", "datasets")
# settings that do not change what is trained: the data is known by its sha256, the output
# folder is where the model is
NOT_TRAINING = frozenset({"data", "output_dir"})
DEPRECATED_BY_PEFT = r"`is_gradient_checkpointing` is deprecated"
OTHER_TRAINING = "a model fine-tuned with other data or settings"


@dataclass(frozen=True)
class FinetuneResult:
    output_dir: Path
    steps: int
    losses: list[float]  # training loss per logged step
    seconds_per_step: float
    skipped: bool = False  # the folder already held this fine-tune: nothing was trained


def finetune(
    config: Path | FinetuneSettings,
    *,
    source: Path | str = "finetune settings",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Fine-tune as a config file (or settings, named `source` in errors) says."""
    say = progress or (lambda _line: None)
    if isinstance(config, Path):
        settings, source = load_settings(config), config
    else:
        settings = config
    out = settings.output_dir
    if out.exists() and not out.is_dir():
        raise SkillmixError(f"{out} is a file, not a folder", file=source, field="output_dir")
    data = training_data(settings.data, say)
    dump = settings.model_dump(mode="json")
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out.parent / f".{out.name}.lock")):
        if (kept := _existing(out, data, dump, overwrite, source)) is not None:
            say(f"kept: {out} already holds this fine-tune (same data and settings)")
            steps = kept.steps
            per_step = kept.train_seconds / steps if steps else 0.0
            return FinetuneResult(out, steps, kept.losses, per_step, skipped=True)
        folder, device = check_model(settings, source), pick_device(settings, source)
        lora = f", LoRA r={settings.lora.r}" if settings.lora else ""
        say(f"model: {folder} ({device}, {settings.dtype}{lora})")
        with _temporary_sibling(out) as temp:
            steps, losses, seconds = _train(
                settings, folder, device, temp, data.examples, say, source
            )
            provenance = FinetuneProvenance(
                base_model=settings.model,
                data=data,
                settings=dump,
                steps=steps,
                losses=losses,
                train_seconds=seconds,
                versions=_versions(),
            )
            text = json.dumps(provenance.model_dump(mode="json"), indent=2) + "\n"
            (temp / PROVENANCE_FILE).write_text(text, encoding="utf-8")
            _move_into_place(temp, out)
    say(f"saved: {out}")
    return FinetuneResult(out, steps, losses, seconds / steps if steps else 0.0)


# -- the output folder -------------------------------------------------------------------------


def _existing(
    out: Path, data: TrainingData, dump: dict[str, Any], overwrite: bool, source: Path | str
) -> FinetuneProvenance | None:
    """The provenance of a folder that already holds this fine-tune; None: train (into an
    absent or empty folder, or over another with `overwrite`)."""
    if not out.exists() or not any(out.iterdir()):
        return None
    try:
        earlier = read_provenance(out)
    except SkillmixError:
        earlier = None  # unreadable: not a fine-tune this version can vouch for
    if earlier is not None and _same_training(earlier, data, dump):
        return earlier
    if overwrite:
        return None
    held = "files that are not a skillmix fine-tune" if earlier is None else OTHER_TRAINING
    message = f"{out} already holds {held}: give --overwrite to replace it"
    raise SkillmixError(message, file=source, field="output_dir")


def _same_training(earlier: FinetuneProvenance, data: TrainingData, dump: dict[str, Any]) -> bool:
    def training(settings: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in settings.items() if key not in NOT_TRAINING}

    same_data = earlier.data.data_sha256 == data.data_sha256
    return same_data and training(earlier.settings) == training(dump)


@contextlib.contextmanager
def _temporary_sibling(out: Path) -> Iterator[Path]:
    """A new folder beside `out` (removed after); those of killed runs are removed first (the
    caller holds the folder's lock)."""
    for kind in ("tmp", "old"):
        for stale in out.parent.glob(f".{out.name}.{kind}-*"):
            shutil.rmtree(stale, ignore_errors=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        temp.chmod(0o777 & ~_umask())  # mkdtemp's folder is the owner's alone
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _move_into_place(temp: Path, out: Path) -> None:
    """The complete folder `temp` renamed to `out`; what `out` held is removed after."""
    if not out.exists():
        os.replace(temp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    try:
        os.replace(out, old / out.name)
        os.replace(temp, out)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


# -- the model ---------------------------------------------------------------------------------


def check_model(settings: FinetuneSettings, source: Path | str) -> Path:
    """The base model's folder, refused unless it is a causal LM with a chat template."""
    _offline()
    from transformers import AutoConfig, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    def refuse(message: str) -> SkillmixError:
        return SkillmixError(message, file=source, field="model")

    try:
        folder = model_folder("base", settings.model)
    except SkillmixError as exc:
        raise refuse(str(exc)) from None
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, OSError, KeyError) as exc:
        raise refuse(f"unreadable config.json in {folder} ({_first_line(exc)})") from None
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    architectures = list(getattr(config, "architectures", None) or [])
    if architectures and not causal & set(architectures):
        raise refuse(f"{folder} is a {', '.join(architectures)}, not a causal language model")
    if getattr(config, "is_encoder_decoder", False) or (
        not architectures and config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    ):
        raise refuse(f"{folder} ({config.model_type}) is not a causal language model")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (ValueError, OSError, KeyError) as exc:
        raise refuse(f"no usable tokenizer in {folder} ({_first_line(exc)})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise refuse(f"the tokenizer in {folder} has no chat template")
    return folder


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _offline() -> None:
    """Never reach the hub; idle OpenMP threads sleep (models/hf.py). Before torch loads."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# -- training ----------------------------------------------------------------------------------


def build_trainer(
    settings: FinetuneSettings, folder: Path, device: str, output: Path, callbacks: list[Any]
) -> SFTTrainer:
    """The SFTTrainer for these settings, its data tokenised (prompt tokens masked)."""
    _offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder, local_files_only=True, dtype=dtype[settings.dtype]
    )
    args = SFTConfig(
        output_dir=str(output),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        max_length=settings.max_length,
        completion_only_loss=True,
        seed=settings.seed,
        logging_steps=settings.logging_steps,
        bf16=settings.dtype == "bfloat16",
        fp16=settings.dtype == "float16",
        **_checkpointing(SFTConfig, settings.gradient_checkpointing),
        use_cpu=device == "cpu",
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=_prompt_completion_dataset(settings.data),
        processing_class=tokenizer,
        peft_config=_lora_config(settings),
        callbacks=callbacks,
    )
    for printer in (PrinterCallback, ProgressCallback):  # the logs are ours to print
        trainer.remove_callback(printer)
    return trainer


def _checkpointing(config: type, enabled: bool) -> dict[str, Any]:
    """transformers 5 renamed it: the old name (TRL's default True) now warns, deprecated."""
    new = "activation_checkpointing" in {field.name for field in dataclasses.fields(config)}
    return {"activation_checkpointing" if new else "gradient_checkpointing": enabled}


def _prompt_completion_dataset(path: Path) -> Any:
    """The examples with their last message as the completion, held in memory (the datasets
    cache is a temporary folder: nothing is left in ~/.cache)."""
    import datasets

    def split(example: dict[str, Any]) -> dict[str, Any]:
        return {"prompt": example["messages"][:-1], "completion": example["messages"][-1:]}

    with tempfile.TemporaryDirectory(prefix="skillmix-sft-data-") as cache:
        loaded = datasets.load_dataset(
            "json", data_files=str(path), split="train", cache_dir=cache, keep_in_memory=True
        )
        return loaded.map(split, remove_columns=["messages"], keep_in_memory=True)


def _lora_config(settings: FinetuneSettings) -> Any:
    if settings.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora.r,
        lora_alpha=settings.lora.alpha,  # type: ignore[arg-type]  # typed int; a float works
        lora_dropout=settings.lora.dropout,
        target_modules=settings.lora.target_modules,
        task_type="CAUSAL_LM",
    )


def _train(
    settings: FinetuneSettings,
    folder: Path,
    device: str,
    output: Path,
    examples: int,
    say: Progress,
    source: Path | str,
) -> tuple[int, list[float], float]:
    """Train and save model and tokenizer into `output`: (steps, losses, seconds)."""
    losses: list[float] = []
    with _no_progress_bars(), warnings.catch_warnings():
        # PEFT reads transformers' deprecated `is_gradient_checkpointing` (peft 0.21, transformers
        # 5.24): their warning, nothing the settings can change
        warnings.filterwarnings("ignore", DEPRECATED_BY_PEFT, FutureWarning)
        trainer = build_trainer(settings, folder, device, output, [_loss_log(losses, say)])
        kept = len(trainer.train_dataset)  # type: ignore[arg-type]
        if kept == 0:
            message = "every example's prompt alone fills max_length: nothing to train on"
            raise SkillmixError(message, file=source, field="max_length")
        if kept < examples:
            say(f"{examples - kept} example(s) left out: the prompt alone fills max_length")
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        model = trainer.accelerator.unwrap_model(trainer.model)
        if settings.lora is not None:
            model = model.merge_and_unload()  # a plain model: hf/ and vllm/ load it without peft
        model.config.use_cache = True
        model.save_pretrained(str(output))
        trainer.processing_class.save_pretrained(str(output))  # type: ignore[union-attr]
    for written in output.iterdir():  # transformers writes the weights for the owner alone
        written.chmod(0o666 & ~_umask())
    return trainer.state.global_step, losses, seconds


def _loss_log(losses: list[float], say: Progress) -> Any:
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            say(f"training: {state.max_steps} steps")

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                say(f"step {state.global_step}/{state.max_steps}: loss {losses[-1]:.4f}")

    return LossLog()


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """datasets' and transformers' progress bars off while training (the callback reports)."""
    import datasets
    from transformers.utils import logging

    datasets_bars = not datasets.are_progress_bars_disabled()
    transformers_bars = logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    logging.disable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]
    try:
        yield
    finally:
        if datasets_bars:
            datasets.enable_progress_bars()
        if transformers_bars:
            logging.enable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]
