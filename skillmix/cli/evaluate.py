"""`skillmix eval` (run, resume, dry run) and `skillmix sample`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from skillmix.cli.console import console, errors, user_errors
from skillmix.errors import SkillmixError
from skillmix.protocol.sampler import CommonSkills
from skillmix.run.loop import run_async

if TYPE_CHECKING:
    from skillmix.run.calls import RunStats
    from skillmix.run.estimate import Estimate
    from skillmix.run.plan import RunPlan

INTERRUPTED = "interrupted: everything finished is stored; rerun the same command to resume"


def cost_line(total: float | None, budget_usd: float | None) -> str:
    budget = "" if budget_usd is None else f" (budget ${budget_usd:.2f})"
    return f"estimated cost: {'unknown' if total is None else f'${total:.4f}'}{budget}"


def _dry_run(plan: RunPlan) -> None:
    from skillmix.protocol.student import turn1_messages
    from skillmix.results.terminal import print_estimates
    from skillmix.run.estimate import estimate_run, total_cost

    config = plan.config
    console.print(
        f"[bold]{config.name}[/bold]: {len(plan.items)} items (k={config.k}, "
        f"{config.items_per_k} per k, seed {config.seed}), G={config.generations}, "
        f"R={config.gradings} -> {config.output_dir}"
    )
    rows = estimate_run(plan)
    print_estimates(rows, console)
    console.print(
        f"{cost_line(total_cost(rows), config.budget_usd)}; "
        f"grader re-asks (up to {config.grader_retries} per reply) are not counted"
    )
    print_realtime_cost(rows)
    first = turn1_messages(
        plan.items[0], plan.catalog, plan.prompts, config.students[0].system_prompt
    )
    console.print(f"\nFirst request ({plan.items[0].item_id}, turn 1):", style="bold")
    for message in first:
        console.print(f"[{message['role']}]\n{message['content']}", markup=False, highlight=False)


def print_realtime_cost(rows: list[Estimate]) -> None:
    """In batch mode, what the same calls would cost in realtime."""
    from skillmix.run.estimate import realtime_cost

    if any(row.realtime_usd is not None for row in rows):
        realtime = realtime_cost(rows)
        shown = "unknown" if realtime is None else f"${realtime:.4f}"
        console.print(f"batch mode: the same calls in realtime would cost {shown}")


def eval_command(
    config: Annotated[Path, typer.Argument(help="Run configuration (YAML).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the calls it would make; run nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    new_run: Annotated[
        bool,
        typer.Option(
            "--new-run",
            help="If output_dir holds another run (other seed, catalog, prompts or models), "
            "move it into output_dir/previous/<run id>/ and start afresh.",
        ),
    ] = False,
) -> None:
    """Run (or resume) an evaluation (Skill-Mix, or ConceptMix for a `suite: conceptmix`
    config), then print the report and write leaderboard.csv."""
    from skillmix.cli.conceptmix import conceptmix_eval
    from skillmix.cli.progress import run_with_progress, stats_text
    from skillmix.config.conceptmix import ConceptMixConfig, load_any_config
    from skillmix.run.opening import open_run
    from skillmix.run.plan import plan_of
    from skillmix.run.regrade import config_graders
    from skillmix.run.runner import Runner

    with user_errors():
        loaded = load_any_config(config)
        if isinstance(loaded, ConceptMixConfig):
            conceptmix_eval(loaded, config, dry_run=dry_run, quiet=quiet, new_run=new_run)
            return
        plan = plan_of(loaded, config)
        if dry_run:
            _dry_run(plan)
            return
        store = open_run(plan, new_run=new_run)
        runner = Runner(plan, store)
        try:
            stats = run_async(run_with_progress(runner, quiet))
            for regrader in config_graders(plan, store) if not stats.interrupted else []:
                graded = run_async(run_with_progress(regrader, quiet))
                say_what_went_wrong(graded)
                stats.interrupted |= graded.interrupted
        except KeyboardInterrupt:
            stats = None
        finally:
            store.close()
        if stats is not None and not stats.interrupted and not quiet:
            done = f"done: {stats.done} of {stats.total} generations"
            errors.print(f"{done} · {stats_text(stats, runner.concurrency())}", highlight=False)
    end_of_run(stats, plan.config.output_dir, INTERRUPTED)


def end_of_run(stats: RunStats | None, run_dir: Path, interrupted: str) -> None:
    """After a run or re-grade: exit 130 if it was interrupted, else say what went wrong,
    print the report, and exit 1 if nothing succeeded."""
    from skillmix.cli.results import report_command

    if stats is None or stats.interrupted:
        errors.print(interrupted)
        raise typer.Exit(130)
    say_what_went_wrong(stats)
    report_command(run_dir)
    if stats.failed and not stats.calls + stats.cached:
        raise typer.Exit(1)  # nothing succeeded: the reasons are above


def say_what_went_wrong(stats: RunStats) -> None:
    for notice in stats.notices:  # (an endpoint without a batch API, say)
        console.print(notice, markup=False, highlight=False)
    if stats.budget_reached:
        errors.print(
            f"budget reached: ${stats.spent_usd:.4f} spent; raise budget_usd and rerun "
            "the same command to continue"
        )
    if stats.failures:
        errors.print(
            f"{sum(stats.failures.values())} calls failed; most common: {stats.failure_summary()}",
            markup=False,
            highlight=False,
        )


def sample_command(
    k: Annotated[int, typer.Option("--k", min=1, help="Skills per item.")] = 2,
    n: Annotated[int, typer.Option("-n", min=1, help="Number of items.")] = 5,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    skills: Annotated[Path, typer.Option(help="Skills catalog (YAML or official CSV).")] = Path(
        "data/skills.yaml"
    ),
    topics: Annotated[Path, typer.Option(help="Topics catalog (YAML or official TXT).")] = Path(
        "data/topics.yaml"
    ),
    common: Annotated[
        CommonSkills, typer.Option(help="Where common skills are excluded.")
    ] = CommonSkills.SCORING,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the items to this file (.jsonl or .csv) to replay."),
    ] = None,
) -> None:
    """Print the items a run with this seed would use, or write them as an items file."""
    from skillmix.catalog import load_catalog
    from skillmix.protocol.item_files import write_items
    from skillmix.protocol.sampler import sample_items

    with user_errors():
        catalog = load_catalog(skills, topics)  # ours or the official files, fully checked
        if k > len(catalog.skills):
            raise SkillmixError(
                f"k={k} is larger than the {len(catalog.skills)} skills", field="--k"
            )
        items = sample_items(catalog, seed=seed, ks=[k], items_per_k=n, common=common)
        if out is not None:
            write_items(items, out)
            console.print(f"{len(items)} items -> {out}", markup=False, highlight=False)
            return
        for item in items:
            flag = "  [common]" if item.has_common_skill else ""
            console.print(
                f"{item.item_id}  {item.topic}: {', '.join(item.skills)}{flag}",
                markup=False,
                highlight=False,
            )
