"""Results in the terminal: the model x k table of a run."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from skillmix.results.build import Cost, RunResults
from skillmix.results.metrics import METRICS, MetricRow


def _cell(row: MetricRow) -> str:
    if row.n == 0:
        text = "-"
    elif math.isnan(row.stderr):
        text = f"{row.value:.2f}"
    else:
        text = f"{row.value:.2f} ± {row.stderr:.2f}"
    notes = [f"n={row.n}"] + [
        f"{label} {count}"
        for label, count in (
            ("unscored", row.unscored),
            ("failed", row.failed),
            ("pending", row.pending),
        )
        if count
    ]
    return f"{text}\n[dim]{', '.join(notes)}[/dim]"


def _money(cost: Cost) -> str:
    student, grader = cost
    if student is None or grader is None:
        return "unknown price"
    return f"${student + grader:.4f}\n[dim]student ${student:.4f}[/dim]"


def render_table(results: RunResults) -> Table:
    config = results.config
    split = config.catalog.split
    scope = f", {split.part.value} split" if split else ""
    title = f"Skill-Mix: {config.name}  (grader {config.grader.label}{scope}, run {results.run_id})"
    table = Table(title=title)
    table.add_column("model", overflow="fold")
    table.add_column("k", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="center")
    table.add_column("cost", justify="right")
    by_key = {(r.student, r.k, r.metric): r for r in results.rows}
    for student in dict.fromkeys(r.student for r in results.rows):
        for k in sorted({r.k for r in results.rows}):
            cells = [_cell(by_key[(student, k, m)]) for m in METRICS]
            cost = _money(results.costs.get((student, k), (0.0, 0.0)))
            table.add_row(student, str(k), *cells, cost)
    return table


def print_report(results: RunResults, console: Console | None = None) -> None:
    (console or Console()).print(render_table(results))
