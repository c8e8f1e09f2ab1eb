"""A run as pandas DataFrames, from its store or from a JSONL export.

frames = skillmix.load_run("runs/quickstart")
frames.scores.groupby(["student", "k"]).full_marks.mean()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import TypeAdapter

from skillmix.config import RunConfig
from skillmix.records import GENERATIONS, GRADINGS, GenerationRecord, GradingRecord, Item
from skillmix.results.build import RunData, RunResults, build_results, graded_results, load_results
from skillmix.run.store import RunStore

ITEM_FIELDS = ["item_id", "k", "index", "skills", "topic", "has_common_skill"]
GENERATION_FIELDS = list(GenerationRecord.model_fields)
GRADING_FIELDS = list(GradingRecord.model_fields)
POINT_FIELDS = ["student", "item_id", "k", "gen", "criterion", "skill", "point"]


@dataclass(frozen=True)
class RunFrames:
    config: RunConfig
    items: pd.DataFrame  # one row per item of the plan
    generations: pd.DataFrame  # one row per (student, item, generation)
    gradings: pd.DataFrame  # one row per (student, item, generation, grader, grading)
    scores: pd.DataFrame  # one row per (student, item): status and each metric (max over gens)
    points: pd.DataFrame  # one row per (student, item, generation, criterion): majority point


def _records(adapter: TypeAdapter[Any], models: list[Any], fields: list[str]) -> pd.DataFrame:
    """Records as a frame: dumped as one list (pydantic's core, not a call per record)."""
    return pd.DataFrame(adapter.dump_python(models, mode="json"), columns=fields)


def _items_frame(items: list[Item]) -> pd.DataFrame:
    rows = [{**item.model_dump(), "skills": list(item.skills)} for item in items]
    return pd.DataFrame(rows, columns=ITEM_FIELDS)


def _score_and_point_rows(
    results: RunResults,
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    item_of = {item.item_id: item for item in results.items}
    score_rows: list[dict[str, Any]] = []
    point_rows: list[tuple[Any, ...]] = []
    for (student, item_id), outcome in results.outcomes.items():
        item = item_of[item_id]
        row: dict[str, Any] = {
            "student": student,
            "item_id": item_id,
            "k": item.k,
            "status": str(outcome.status),
            "counted": not (results.drop_common and item.has_common_skill),
        }
        row.update(outcome.headline)
        score_rows.append(row)
        for gen, points in outcome.by_generation.items():
            for criterion, point in points.items():
                skill = criterion.removeprefix("skill:") if criterion.startswith("skill:") else None
                point_rows.append((student, item_id, item.k, gen, criterion, skill, point))
    return score_rows, point_rows


def frames_of(results: RunResults) -> RunFrames:
    """The DataFrames of built results."""
    score_rows, point_rows = _score_and_point_rows(results)
    return RunFrames(
        config=results.config,
        items=_items_frame(results.items),
        generations=_records(GENERATIONS, results.generations, GENERATION_FIELDS),
        gradings=_records(GRADINGS, results.gradings, GRADING_FIELDS),
        scores=pd.DataFrame(score_rows),
        points=pd.DataFrame(point_rows, columns=POINT_FIELDS),
    )


def build_frames(
    config: RunConfig, items: list[Item], gens: list[GenerationRecord], grads: list[GradingRecord]
) -> RunFrames:
    """The DataFrames of a run given as records."""
    return frames_of(build_results(RunData(config, items, gens, grads)))


def frames_from_store(
    store: RunStore, grader: str | None = None, *, texts: bool = True
) -> RunFrames:
    return frames_of(load_results(store, grader, texts=texts))


def load_run(path: Path | str, grader: str | None = None, *, texts: bool = True) -> RunFrames:
    """A run directory, or a JSONL file written by `skillmix export --jsonl`, as DataFrames:
    the results by the run's own grader, or by the grader labelled `grader`. `texts=False`
    leaves the answers, replies and reasons out of a run directory's frames (their columns
    stay, empty): a big run loads faster, in less memory."""
    from skillmix.results.jsonl import read_jsonl

    path = Path(path)
    if path.is_file():
        return frames_of(graded_results(read_jsonl(path), grader))
    store = RunStore.open_for_reading(path)
    try:
        return frames_from_store(store, grader, texts=texts)
    finally:
        store.close()
