"""`skillmix regrade`: grade a run's stored answers with another grader (no student call)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skillmix.cli.console import user_errors
from skillmix.cli.evaluate import end_of_run
from skillmix.errors import SkillmixError, describe_validation
from skillmix.run.loop import run_async

if TYPE_CHECKING:
    from skillmix.config import ExtraGrader

INTERRUPTED = "interrupted: every grading finished is stored; rerun the same command to resume"
# the grader's options, shared with `skillmix calibrate`
GraderOption = Annotated[str, typer.Option("--grader", help="The grader's model string.")]
NameOption = Annotated[str | None, typer.Option(help="Its label (default: the model).")]
BaseUrlOption = Annotated[
    str | None, typer.Option("--base-url", help="An OpenAI-compatible server.")
]
SystemPromptOption = Annotated[
    str | None, typer.Option("--system-prompt", help="The grader's system prompt.")
]
BatchOption = Annotated[
    bool, typer.Option("--batch", help="Through the provider's batch API, at half price.")
]


def regrade_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (skillmix eval or import).")],
    grader: GraderOption,
    name: NameOption = None,
    base_url: BaseUrlOption = None,
    system_prompt: SystemPromptOption = None,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", min=1, help="Its calls in flight.")
    ] = None,
    gradings: Annotated[
        int | None, typer.Option(min=1, help="R gradings per answer (default: the run's).")
    ] = None,
    skills: Annotated[
        Path | None, typer.Option(help="The run's skills file, if not where its config says.")
    ] = None,
    topics: Annotated[Path | None, typer.Option(help="The run's topics file, likewise.")] = None,
    grader_prompt: Annotated[
        Path | None, typer.Option("--grader-prompt", help="The grader template to use.")
    ] = None,
    batch: BatchOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Grade the stored answers of a run with another grader, beside the run's own gradings,
    then print the report (one table per grader). Rerun the same command to resume."""
    from skillmix.cli.progress import run_with_progress
    from skillmix.config import stored_config
    from skillmix.run.regrade import (
        Regrader,
        RunFiles,
        check_grader,
        open_for_regrade,
        record_grader,
        regrade_plan,
    )
    from skillmix.run.store import RunStore

    with user_errors():
        reading = RunStore.open_for_reading(run_dir)  # all checked before the lock is taken
        try:
            run_gradings = stored_config(reading.get_meta("config") or "", reading.path).gradings
            entry: dict[str, Any] = {"model": grader, "name": name, "base_url": base_url}
            entry |= {"system_prompt": system_prompt, "max_concurrency": max_concurrency}
            entry |= {"batch": True} if batch else {}
            chosen = extra_grader({"entry": entry, "gradings": gradings or run_gradings})
            check_grader(reading, chosen)
            plan = regrade_plan(reading, chosen, RunFiles(skills, topics, grader_prompt))
        finally:
            reading.close()
        store = open_for_regrade(run_dir)
        try:
            record_grader(store, chosen)
            stats = run_async(run_with_progress(Regrader(plan, store), quiet))
        except KeyboardInterrupt:
            stats = None
        finally:
            store.close()
    end_of_run(stats, run_dir, INTERRUPTED)


OPTIONS = {
    "entry": "--grader",
    "entry.model": "--grader",
    "entry.base_url": "--base-url",
    "entry.name": "--name",
}


def extra_grader(data: dict[str, Any]) -> ExtraGrader:
    """The grader the options describe; a bad value is one line naming the option."""
    from pydantic import ValidationError

    from skillmix.config import ExtraGrader

    try:
        return ExtraGrader.model_validate(data)
    except ValidationError as exc:
        field, message = describe_validation(exc)
        option = OPTIONS.get(field, f"--{field.removeprefix('entry.').replace('_', '-')}")
        raise SkillmixError(message, field=option) from None
