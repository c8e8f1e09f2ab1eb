"""Results of a run directory: the model x k table and the leaderboard CSV."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from skillmix.config import RunConfig
from skillmix.metrics import METRICS, MetricRow, aggregate, item_outcomes
from skillmix.sampler import CommonSkills, Item
from skillmix.store import RunStore

EXPORT_COLUMNS = [
    "model",
    "k",
    "metric",
    "value",
    "stderr",
    "n",
    "unscored",
    "failed",
    "pending",
    "student_cost_usd",
    "grader_cost_usd",
    "grader",
    "run_id",
    "catalog_hash",
    "prompt_hash",
    "seed",
]


Cost = tuple[float | None, float | None]


@dataclass(frozen=True)
class RunResults:
    config: RunConfig
    run_id: str
    catalog_hash: str
    prompt_hash: str
    rows: list[MetricRow]
    costs: dict[tuple[str, int], Cost]  # (student, k) -> (student USD, grader USD)


def load_results(store: RunStore) -> RunResults:
    stored = store.get_meta("config")
    if stored is None:
        raise FileNotFoundError(f"{store.path}: the run has no configuration stored yet")
    config = RunConfig.model_validate_json(stored)
    items = [i for i in store.items() if i.k in config.k and i.index < config.items_per_k]
    students = [s.label for s in config.students]
    outcomes = item_outcomes(
        items,
        students,
        config.grader.label,
        config.generations,
        config.gradings,
        store.generations(),
        store.gradings(),
    )
    rows = aggregate(
        items, outcomes, students, drop_common=config.common_skills is CommonSkills.SCORING
    )
    return RunResults(
        config,
        store.get_meta("run_id") or "",
        store.get_meta("catalog_hash") or "",
        store.get_meta("prompt_hash") or "",
        rows,
        spending(items, store, config.grader.label),
    )


def _add(total: float | None, cost: float | None) -> float | None:
    return None if total is None or cost is None else total + cost


def spending(items: list[Item], store: RunStore, grader: str) -> dict[tuple[str, int], Cost]:
    """Dollars per (student, k): its own calls, and the grader's calls on its answers."""
    k_of = {item.item_id: item.k for item in items}
    costs: dict[tuple[str, int], Cost] = {}
    for record in store.generations():
        if record.item_id in k_of:
            key = (record.student, k_of[record.item_id])
            student, graded = costs.get(key, (0.0, 0.0))
            costs[key] = (_add(student, record.cost_usd), graded)
    for grading in store.gradings():
        if grading.item_id in k_of and grading.grader == grader:
            key = (grading.student, k_of[grading.item_id])
            student, graded = costs.get(key, (0.0, 0.0))
            costs[key] = (student, _add(graded, grading.cost_usd))
    return costs


def results_frame(results: RunResults) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(r) for r in results.rows]).rename(columns={"student": "model"})
    costs = [results.costs.get((row.student, row.k), (0.0, 0.0)) for row in results.rows]
    frame["student_cost_usd"] = [student for student, _ in costs]
    frame["grader_cost_usd"] = [grader for _, grader in costs]
    frame["grader"] = results.config.grader.label
    frame["run_id"] = results.run_id
    frame["catalog_hash"] = results.catalog_hash
    frame["prompt_hash"] = results.prompt_hash
    frame["seed"] = results.config.seed
    return frame[EXPORT_COLUMNS]


def export_csv(run_dirs: list[Path], out: Path) -> pd.DataFrame:
    frames = []
    for run_dir in run_dirs:
        store = RunStore.open_existing(run_dir)
        try:
            frames.append(results_frame(load_results(store)))
        finally:
            store.close()
    frame = pd.concat(frames, ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.6g")
    return frame


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
