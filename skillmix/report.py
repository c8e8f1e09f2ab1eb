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
from skillmix.sampler import CommonSkills
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
    "grader",
    "run_id",
    "catalog_hash",
    "prompt_hash",
    "seed",
]


@dataclass(frozen=True)
class RunResults:
    config: RunConfig
    run_id: str
    catalog_hash: str
    prompt_hash: str
    rows: list[MetricRow]


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
    )


def results_frame(results: RunResults) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(r) for r in results.rows]).rename(columns={"student": "model"})
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


def render_table(results: RunResults) -> Table:
    config = results.config
    table = Table(
        title=f"Skill-Mix: {config.name}  (grader {config.grader.label}, run {results.run_id})"
    )
    table.add_column("model")
    table.add_column("k", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="center")
    by_key = {(r.student, r.k, r.metric): r for r in results.rows}
    for student in dict.fromkeys(r.student for r in results.rows):
        for k in sorted({r.k for r in results.rows}):
            table.add_row(student, str(k), *(_cell(by_key[(student, k, m)]) for m in METRICS))
    return table


def print_report(results: RunResults, console: Console | None = None) -> None:
    (console or Console()).print(render_table(results))
