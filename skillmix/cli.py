"""The `skillmix` command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillmix.analysis import compare
from skillmix.api import open_run
from skillmix.catalog import Catalog, load_skills, load_topics
from skillmix.cli_catalog import catalog_app
from skillmix.console import console, errors, user_errors
from skillmix.errors import SkillmixError
from skillmix.estimate import estimate_run
from skillmix.frames import export_jsonl, load_run
from skillmix.metrics import METRICS
from skillmix.plan import RunPlan, prepare
from skillmix.report import export_csv, load_results, print_report, results_frame
from skillmix.runner import Runner, RunStats
from skillmix.sampler import CommonSkills, sample_items
from skillmix.store import RunStore
from skillmix.student import turn1_messages

app = typer.Typer(
    help="Skill-Mix: measure how well language models combine skills.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


def _stats_text(stats: RunStats, concurrency: dict[str, int]) -> str:
    limits = ", ".join(f"{label} {n}" for label, n in concurrency.items())
    return (
        f"in flight {stats.in_flight} (limit {limits}) · calls {stats.calls} "
        f"(stored {stats.cached}) · retries {stats.retries} · re-asks {stats.reasks} · "
        f"unscored {stats.unscored} · failed {stats.failed} · tokens {stats.tokens:,} · "
        f"${stats.spent_usd:.4f}"
    )


async def _run_with_progress(runner: Runner, quiet: bool) -> RunStats:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    live = not quiet and errors.is_terminal
    with Progress(*columns, console=errors, disable=not live, transient=False) as progress:
        task = progress.add_task("generations", total=None, stats="")

        def show() -> None:
            stats = runner.stats
            text = _stats_text(stats, runner.concurrency())
            progress.update(task, total=stats.total, completed=stats.done, stats=text)

        async def refresh() -> None:
            while True:
                show()
                await asyncio.sleep(0.2)

        ticker = asyncio.create_task(refresh())
        try:
            return await runner.run()
        finally:
            ticker.cancel()
            show()


def _dry_run(plan: RunPlan) -> None:
    config = plan.config
    console.print(
        f"[bold]{config.name}[/bold]: {len(plan.items)} items (k={config.k}, "
        f"{config.items_per_k} per k, seed {config.seed}), G={config.generations}, "
        f"R={config.gradings} -> {config.output_dir}"
    )
    table = Table(title="calls this run would make (outputs counted at max_tokens: an upper bound)")
    for column in ("model", "role", "calls", "input tokens", "output tokens", "cost (USD)"):
        left = column in ("model", "role")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    total: float | None = 0.0
    for row in estimate_run(plan):
        cost = "unknown price" if row.cost_usd is None else f"{row.cost_usd:.4f}"
        table.add_row(
            row.label,
            row.role,
            f"{row.calls:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            cost,
        )
        total = None if total is None or row.cost_usd is None else total + row.cost_usd
    console.print(table)
    console.print(
        f"estimated cost: {'unknown' if total is None else f'${total:.4f}'}"
        f"{'' if config.budget_usd is None else f' (budget ${config.budget_usd:.2f})'}; "
        f"grader re-asks (up to {config.grader_retries} per reply) are not counted"
    )
    first = turn1_messages(
        plan.items[0], plan.catalog, plan.prompts, config.students[0].system_prompt
    )
    console.print(f"\nFirst request ({plan.items[0].item_id}, turn 1):", style="bold")
    for message in first:
        console.print(f"[{message['role']}]\n{message['content']}", markup=False, highlight=False)


@app.command("eval")
def eval_command(
    config: Annotated[Path, typer.Argument(help="Run configuration (YAML).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the calls it would make; run nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run (or resume) a Skill-Mix evaluation, then print the report and write leaderboard.csv."""
    with user_errors():
        plan = prepare(config)
        if dry_run:
            _dry_run(plan)
            return
        store = open_run(plan)
        runner = Runner(plan, store)
        try:
            stats = asyncio.run(_run_with_progress(runner, quiet))
        except KeyboardInterrupt:
            errors.print(
                "interrupted: everything finished is stored; rerun the same command to resume"
            )
            raise typer.Exit(130) from None
        finally:
            store.close()
        if not quiet:
            errors.print(
                f"done: {stats.done} of {stats.total} generations · "
                f"{_stats_text(stats, runner.concurrency())}",
                highlight=False,
            )
        if stats.budget_reached:
            errors.print(
                f"budget reached: ${stats.spent_usd:.4f} spent; raise budget_usd and rerun "
                "the same command to continue"
            )
        report_command(plan.config.output_dir)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")
    ] = None,
    max_items: Annotated[
        int, typer.Option("--max-items", min=0, help="Generations listed in the HTML report.")
    ] = 300,
) -> None:
    """Print the model x k table (mean ± standard error, with unscored and failed counts)."""
    with user_errors():
        store = RunStore.open_existing(run_dir)
        try:
            results = load_results(store)
        finally:
            store.close()
        print_report(results, console)
        out = run_dir / "leaderboard.csv"
        results_frame(results).to_csv(out, index=False, float_format="%.6g")
        console.print(f"leaderboard: {out}")
        if html is not None:
            from skillmix.html_report import write_html_report  # matplotlib: only when asked

            console.print(f"html report: {write_html_report(run_dir, html, max_items=max_items)}")


@app.command("compare")
def compare_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with both models.")],
    a: Annotated[str, typer.Option("--a", help="Model label A.")],
    b: Annotated[str, typer.Option("--b", help="Model label B.")],
    metric: Annotated[str, typer.Option(help="full_marks, all_skills or skill_fraction.")] = (
        "full_marks"
    ),
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Paired comparison of two models on the same items: per-k difference with a paired
    bootstrap interval, and McNemar's test on full marks."""
    with user_errors():
        if metric not in METRICS:
            raise SkillmixError(
                f"unknown metric {metric!r} (known: {', '.join(METRICS)})", field="--metric"
            )
        frames = load_run(run_dir)
        try:
            table = compare(frames, a, b, metric=metric, seed=seed)
        except ValueError as exc:
            raise SkillmixError(str(exc), file=run_dir) from None
    view = Table(title=f"{a} vs {b} on {metric} (paired over shared items)")
    for column in table.columns:
        view.add_column(str(column), justify="right", overflow="fold")
    for values in table.itertuples(index=False):
        view.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in values))
    console.print(view)


@app.command("export")
def export_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories.")],
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Leaderboard CSV: one row per model x k x metric.")
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option("--jsonl", help="Every item, generation and grading of one run, as JSONL."),
    ] = None,
) -> None:
    """Write the leaderboard CSV of runs, or every record of a run as JSONL (pandas, DuckDB)."""
    with user_errors():
        if csv is None and jsonl is None:
            raise SkillmixError("give --csv FILE and/or --jsonl FILE", field="export")
        if csv is not None:
            frame = export_csv(run_dirs, csv)
            console.print(f"{len(frame)} rows -> {csv}")
        if jsonl is not None:
            if len(run_dirs) != 1:
                raise SkillmixError("--jsonl exports one run directory at a time", field="--jsonl")
            store = RunStore.open_existing(run_dirs[0])
            try:
                lines = export_jsonl(store, jsonl)
            finally:
                store.close()
            console.print(f"{lines} records -> {jsonl}")


@app.command("import-official")
def import_official_command(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Official run folders (a test/ folder or k*_s*_v*_r* rounds)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="The new run directory.")],
) -> None:
    """Build a run store from the official repository's run folders (records.csv, graded/),
    aggregated the official way, for report, export and compare."""
    from skillmix.official_run import import_official_run

    with user_errors():
        summary = import_official_run(sources, out)
    console.print(
        f"{len(summary.students)} students, k={summary.ks}, {summary.items} items, "
        f"{summary.generations} generations, {summary.gradings} gradings "
        f"({summary.unscored} unscored, {summary.fallbacks} from official points) -> {out}"
    )
    for note in summary.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    report_command(out)


@app.command("sample")
def sample_command(
    k: Annotated[int, typer.Option("--k", min=1, help="Skills per item.")] = 2,
    n: Annotated[int, typer.Option("-n", min=1, help="Number of items.")] = 5,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    skills: Annotated[Path, typer.Option(help="Skills catalog.")] = Path("data/skills.yaml"),
    topics: Annotated[Path, typer.Option(help="Topics catalog.")] = Path("data/topics.yaml"),
    common: Annotated[
        CommonSkills, typer.Option(help="Where common skills are excluded.")
    ] = CommonSkills.SCORING,
) -> None:
    """Print the items a run with this seed would use."""
    with user_errors():
        catalog = Catalog(load_skills(skills), load_topics(topics))
        if k > len(catalog.skills):
            raise SkillmixError(
                f"k={k} is larger than the {len(catalog.skills)} skills", field="--k"
            )
        for item in sample_items(catalog, seed=seed, ks=[k], items_per_k=n, common=common):
            flag = "  [common]" if item.has_common_skill else ""
            console.print(
                f"{item.item_id}  {item.topic}: {', '.join(item.skills)}{flag}",
                markup=False,
                highlight=False,
            )
