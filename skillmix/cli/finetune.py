"""`skillmix finetune`: train a local model on exported chat examples (TRL, optionally LoRA)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from skillmix.cli.console import console, errors, user_errors
from skillmix.errors import SkillmixError

TRAIN_EXTRA = "pip install -e '.[train]' (trl, peft, datasets)"


def finetune_command(
    config: Annotated[Path, typer.Argument(help="The fine-tune settings (YAML).")],
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace what output_dir holds (unless it is this fine-tune)."
        ),
    ] = False,
) -> None:
    """Fine-tune a model on chat examples (`skillmix export-sft`), the loss on the answers only.
    The saved folder is a plain model for hf/PATH and vllm/PATH, with the provenance of its
    training. Rerun the same command and a finished folder is kept, not trained again."""
    from skillmix.finetune.recipe import finetune
    from skillmix.finetune.settings import load_settings

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    with user_errors():
        settings = load_settings(config)
        needed = ("torch", "transformers", "trl", "datasets", *(("peft",) if settings.lora else ()))
        if missing := [name for name in needed if importlib.util.find_spec(name) is None]:
            raise SkillmixError(f"fine-tuning needs {', '.join(missing)}: {TRAIN_EXTRA}")
        try:
            result = finetune(settings, source=config, overwrite=overwrite, progress=say)
        except KeyboardInterrupt:
            result = None
    if result is None:
        errors.print(
            "interrupted: nothing was saved (output_dir is as it was)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(130)
    if result.skipped:
        say(f"nothing to train: {result.output_dir} is up to date")
        return
    losses = result.losses
    trend = f", loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else ""
    say(f"{result.steps} steps, {result.seconds_per_step:.2f} s per step{trend}")
    folder = result.output_dir
    shown = folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder
    say(f"evaluate it as hf/{shown} or vllm/{shown}")
