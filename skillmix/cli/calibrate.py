"""`skillmix calibrate`: a grader on the labelled calibration set, before a run trusts it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from skillmix.cli.console import console, errors, user_errors
from skillmix.cli.evaluate import say_what_went_wrong
from skillmix.cli.regrade import (
    BaseUrlOption,
    BatchOption,
    GraderOption,
    NameOption,
    SystemPromptOption,
    extra_grader,
)
from skillmix.run.loop import run_async

DEFAULT_SET = Path("data/calibration.yaml")


def calibrate_command(
    grader: GraderOption,
    name: NameOption = None,
    base_url: BaseUrlOption = None,
    system_prompt: SystemPromptOption = None,
    gradings: Annotated[int, typer.Option(min=1, help="R gradings per answer.")] = 1,
    answers: Annotated[Path, typer.Option("--set", help="The labelled set.")] = DEFAULT_SET,
    skills: Annotated[Path, typer.Option(help="Its skills catalog.")] = Path("data/skills.yaml"),
    topics: Annotated[Path, typer.Option(help="Its topics catalog.")] = Path("data/topics.yaml"),
    grader_prompt: Annotated[
        Path | None, typer.Option("--grader-prompt", help="A grader template of your own.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Its run directory (default: runs/calibrate/LABEL).")
    ] = None,
    batch: BatchOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Grade the labelled calibration set and report the grader's accuracy per kind of
    criterion, its false-pass and false-fail rates and its full-marks agreement. Rerun the
    same command to resume."""
    from skillmix.cli.progress import run_with_progress
    from skillmix.results.calibration import calibration_table, full_marks_agreement
    from skillmix.results.terminal import print_calibration
    from skillmix.run.calibrate import STUDENT, calibration_plan, open_calibration
    from skillmix.run.regrade import Regrader

    with user_errors():
        entry: dict[str, Any] = {"model": grader, "name": name, "base_url": base_url}
        entry |= {"batch": True} if batch else {}
        chosen = extra_grader(
            {"entry": entry | {"system_prompt": system_prompt}, "gradings": gradings}
        )
        label = chosen.entry.label
        run_dir = out or Path("runs") / "calibrate" / label.replace("/", "_")
        calibration = calibration_plan(answers, skills, topics, chosen, run_dir, grader_prompt)
        store = open_calibration(calibration)
        try:
            stats = run_async(run_with_progress(Regrader(calibration.plan, store), quiet))
            gradings_stored = store.gradings()
        except KeyboardInterrupt:
            stats = None
        finally:
            store.close()
    if stats is None or stats.interrupted:
        errors.print("interrupted: every grading finished is stored; rerun to resume")
        raise typer.Exit(130)
    say_what_went_wrong(stats)
    args = (calibration.answers, gradings_stored, label, gradings, STUDENT.label)
    print_calibration(label, calibration_table(*args), full_marks_agreement(*args), console)
    console.print(f"gradings: {run_dir}", markup=False, highlight=False)
