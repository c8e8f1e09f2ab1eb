"""`skillmix eval` on a ConceptMix config (`suite: conceptmix`): run, resume, dry run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from skillmix.cli.console import console, errors
from skillmix.run.loop import run_async

if TYPE_CHECKING:
    from skillmix.config.conceptmix import ConceptMixConfig
    from skillmix.run.calls import RunStats
    from skillmix.run.conceptmix.plan import ConceptPlan, WriterPlan

INTERRUPTED = "interrupted: every stored image and verdict is kept; rerun the same command"


def conceptmix_eval(
    config: ConceptMixConfig, source: Path, *, dry_run: bool, quiet: bool, new_run: bool
) -> None:
    from skillmix.cli.evaluate import end_of_run
    from skillmix.cli.progress import run_with_progress, stats_text
    from skillmix.run.conceptmix.opening import open_conceptmix_run
    from skillmix.run.conceptmix.plan import conceptmix_plan
    from skillmix.run.conceptmix.runner import ConceptRunner

    plan = conceptmix_plan(config, source)
    if dry_run:
        describe_plan(plan)
        return
    concepts = open_conceptmix_run(plan, new_run=new_run)
    runner = ConceptRunner(plan, concepts)
    stats: RunStats | None
    try:
        stats = run_async(run_with_progress(runner, quiet))
    except KeyboardInterrupt:
        stats = None
    finally:
        concepts.store.close()
    if stats is not None and not stats.interrupted and not quiet:
        done = f"done: {stats.done} of {stats.total} images"
        errors.print(f"{done} · {stats_text(stats, runner.concurrency())}", highlight=False)
    end_of_run(stats, config.output_dir, INTERRUPTED)


def describe_plan(plan: ConceptPlan) -> None:
    """What the run would do: its calls and their cost, the first prompt and question."""
    from skillmix.cli.evaluate import cost_line, print_realtime_cost
    from skillmix.results.terminal import print_estimates
    from skillmix.run.conceptmix.estimate import estimate_conceptmix
    from skillmix.run.estimate import total_cost

    config = plan.config
    count, written = len(plan.items or plan.item_slots()), " to write" if plan.writer else ""
    console.print(
        f"[bold]{config.name}[/bold] (ConceptMix): {count} prompts{written} (k={config.k}), "
        f"{config.images_per_prompt} image(s) each -> {config.output_dir}"
    )
    rows = estimate_conceptmix(plan)
    print_estimates(rows, console)
    console.print(
        f"{cost_line(total_cost(rows), config.budget_usd)}; image output tokens at the "
        "size's and quality's bound, each graded image at a fixed token bound"
    )
    print_realtime_cost(rows)
    if plan.writer is not None:
        describe_writing(plan, plan.writer)
        return
    first = plan.items[0]
    console.print(f"\nFirst prompt ({first.item_id}):", style="bold")
    console.print(first.prompt, markup=False, highlight=False)
    if first.questions:
        console.print("First question (with the image):", style="bold")
        console.print(plan.template.render(first.questions[0].text), markup=False, highlight=False)


def describe_writing(plan: ConceptPlan, writer: WriterPlan) -> None:
    console.print(
        "written items counted at their first draw, each reply at the writer's max_tokens; "
        "every redraw adds five writer calls",
        markup=False,
        highlight=False,
    )
    k, index = plan.item_slots()[0]
    draw = writer.draw(plan.config.seed, k, index)
    concepts = ", ".join(f"{c.category}={c.value}" for c in draw.concepts())
    console.print(f"\nFirst draw (k={k}, item {index}):", style="bold")
    console.print(concepts, markup=False, highlight=False)
