"""The leaderboard as a table of rows: one per model x k x metric, with costs and provenance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from skillmix.outputs import check_output_file, write_file
from skillmix.results.build import RunResults, read_run, results_per_grader
from skillmix.run.store import RunStore

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
    "split",  # the catalog part the items come from, with its definition's hash; "" for none
]


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
    split = results.config.catalog.split
    frame["split"] = f"{split.part.value}:{split.definition_hash()}" if split else ""
    return frame[EXPORT_COLUMNS]


def write_csv(frame: pd.DataFrame, out: Path) -> pd.DataFrame:
    write_file(out, lambda path: frame.to_csv(path, index=False, float_format="%.6g"))
    return frame


def leaderboard_frame(every: Sequence[RunResults]) -> pd.DataFrame:
    """The rows of a run's results by each of its graders (the `grader` column tells them)."""
    return pd.concat([results_frame(results) for results in every], ignore_index=True)


def write_leaderboard(every: Sequence[RunResults], out: Path) -> pd.DataFrame:
    return write_csv(leaderboard_frame(every), out)


def export_csv(run_dirs: list[Path], out: Path) -> pd.DataFrame:
    check_output_file(out)
    frames = []
    for run_dir in run_dirs:
        store = RunStore.open_for_reading(run_dir)
        try:
            frames.append(leaderboard_frame(results_per_grader(read_run(store, texts=False))))
        finally:
            store.close()
    return write_csv(pd.concat(frames, ignore_index=True), out)
