"""`skillmix learn`: the learning-composition experiment from one config (see
skillmix/finetune/experiment.py): teacher run -> export -> fine-tune -> held-out evaluation ->
paired comparison. Each step is the command a user would run by hand, on files it writes
under the experiment's work_dir."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skillmix.catalog.splits import SplitPart, load_split
from skillmix.cli.console import console, user_errors


def _step(text: str) -> None:
    console.print(f"\n[bold]{text}[/bold]")


def learn_command(
    config: Annotated[Path, typer.Argument(help="The experiment config (YAML).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run (or resume) the whole experiment: the teacher's full-mark answers on training
    skills become fine-tuning data, the base model is fine-tuned on them, and base and
    fine-tuned model are evaluated and compared on the held-out skills and topics."""
    from skillmix.cli.evaluate import eval_command
    from skillmix.cli.finetune import finetune_command
    from skillmix.cli.results import compare_command
    from skillmix.config import load_config
    from skillmix.finetune.examples import Selection
    from skillmix.finetune.experiment import BASE, FINETUNED, load_experiment, write_yaml
    from skillmix.finetune.export import build_export, write_export
    from skillmix.results.build import read_run
    from skillmix.run.store import RunStore

    with user_errors():
        experiment = load_experiment(config)
        split = load_split(experiment.split, SplitPart.TRAIN, "split")
        experiment.check(config)  # every step's settings, before anything runs
        finetune_file = write_yaml(
            experiment.folder / "finetune.yaml", experiment.finetune_config()
        )
    teacher = experiment.teacher
    if experiment.teacher_is_config:
        _step(f"1. teacher run: skillmix eval {teacher}")
        eval_command(teacher, quiet=quiet)
        with user_errors():
            teacher = load_config(teacher).output_dir
    with user_errors():
        store = RunStore.open_for_reading(teacher)
        try:
            teacher_catalog = read_run(store).config.catalog
        finally:
            store.close()
        _step(f"2. export: skillmix export-sft {teacher} --out {experiment.data_file}")
        step = experiment.export
        selection = Selection(
            only=step.only,
            k=tuple(step.k) if step.k else None,
            students=tuple(step.students) if step.students else None,
        )
        export = build_export([teacher], selection, SplitPart.TRAIN, split)
        write_export(export, experiment.data_file)
        console.print(
            f"{export.manifest.examples} examples, split {split.describe()}", markup=False
        )
        catalog = teacher_catalog.model_dump(mode="json", exclude={"split"})
        eval_file = write_yaml(experiment.folder / "evaluate.yaml", experiment.eval_config(catalog))
    _step(f"3. fine-tune: skillmix finetune {finetune_file}")
    finetune_command(finetune_file)
    _step(f"4. held-out evaluation: skillmix eval {eval_file}")
    eval_command(eval_file, quiet=quiet)
    _step(f"5. skillmix compare {experiment.eval_dir} --a {BASE} --b {FINETUNED}")
    compare_command(experiment.eval_dir, a=BASE, b=FINETUNED)
