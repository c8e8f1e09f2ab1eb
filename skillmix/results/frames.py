"""A run as pandas DataFrames, from its store or from a JSONL export.

frames = skillmix.load_run("runs/quickstart")
frames.scores.groupby(["student", "k"]).full_marks.mean()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from skillmix.config import RunConfig
from skillmix.records import GenerationRecord, GradingRecord, Item
from skillmix.results.build import RunData, RunResults, build_results, graded_results, load_results
from skillmix.results.metrics import METRICS
from skillmix.run.store import RunStore
from skillmix.run.store_reading import gc_paused

ITEM_FIELDS = ["item_id", "k", "index", "skills", "topic", "has_common_skill"]
GENERATION_FIELDS = list(GenerationRecord.model_fields)
GRADING_FIELDS = list(GradingRecord.model_fields)
POINT_FIELDS = ["student", "item_id", "k", "gen", "criterion", "skill", "point"]


def _records(models: Sequence[BaseModel], fields: list[str]) -> pd.DataFrame:
    """Records as a frame, a column at a time, holding the records' own values (no copies);
    statuses as their plain values."""
    columns = {}
    for field in fields:
        values = [getattr(model, field) for model in models]
        if values and isinstance(values[0], Enum):
            values = [value.value for value in values]
        columns[field] = values
    return pd.DataFrame(columns, columns=fields)


def items_frame(results: RunResults) -> pd.DataFrame:
    """One row per item of the plan."""
    rows = [{**item.model_dump(), "skills": list(item.skills)} for item in results.items]
    return pd.DataFrame(rows, columns=ITEM_FIELDS)


def generations_frame(results: RunResults) -> pd.DataFrame:
    """One row per (student, item, generation)."""
    return _records(results.generations, GENERATION_FIELDS)


def gradings_frame(results: RunResults) -> pd.DataFrame:
    """One row per (student, item, generation, grader, grading)."""
    return _records(results.gradings, GRADING_FIELDS)


def scores_frame(results: RunResults) -> pd.DataFrame:
    """One row per (student, item): its status and each metric (the best generation's)."""
    k_of = {item.item_id: item.k for item in results.items}
    dropped = {i.item_id for i in results.items if results.drop_common and i.has_common_skill}
    keys, outcomes = list(results.outcomes), list(results.outcomes.values())
    headlines = [outcome.headline for outcome in outcomes]
    columns: dict[str, list[Any]] = {
        "student": [student for student, _ in keys],
        "item_id": [item_id for _, item_id in keys],
        "k": [k_of[item_id] for _, item_id in keys],
        "status": [outcome.status.value for outcome in outcomes],
        "counted": [item_id not in dropped for _, item_id in keys],
    }
    columns |= {metric: [h[metric] for h in headlines] for metric in METRICS}
    return pd.DataFrame(columns)


def points_frame(results: RunResults) -> pd.DataFrame:
    """One row per (student, item, generation, criterion): the majority point. Built a column
    at a time: a row per criterion makes it the biggest frame."""
    k_of = {item.item_id: item.k for item in results.items}
    columns: dict[str, list[Any]] = {name: [] for name in POINT_FIELDS}
    for (student, item_id), outcome in results.outcomes.items():
        for gen, points in zip(outcome.gens, outcome.points, strict=True):
            n = len(points)
            columns["student"] += [student] * n
            columns["item_id"] += [item_id] * n
            columns["k"] += [k_of[item_id]] * n
            columns["gen"] += [gen] * n
            columns["criterion"] += points
            columns["point"] += points.values()
    columns["skill"] = list(map(_skill, columns["criterion"]))
    return pd.DataFrame(columns, columns=POINT_FIELDS)


@functools.cache
def _skill(criterion: str) -> str | None:
    """A rubric key's skill (None for topic, sense, sentences): one string for every row."""
    skill = criterion.removeprefix("skill:")
    return skill if skill != criterion else None


FRAME_BUILDERS: dict[str, Callable[[RunResults], pd.DataFrame]] = {
    "items": items_frame,
    "generations": generations_frame,
    "gradings": gradings_frame,
    "scores": scores_frame,
    "points": points_frame,
}


def _frame(build: Callable[[RunResults], pd.DataFrame]) -> cached_property[pd.DataFrame]:
    """A frame of RunFrames: built from the run's results when it is first read."""

    def built(frames: RunFrames) -> pd.DataFrame:
        with gc_paused():
            return build(frames.results)

    built.__doc__ = build.__doc__
    return cached_property(built)


class RunFrames:
    """A run's DataFrames, each built from the run's results when it is first read (a big
    run's comparison reads its scores only)."""

    def __init__(self, results: RunResults):
        self.results = results
        self.config: RunConfig = results.config

    items = _frame(items_frame)
    generations = _frame(generations_frame)
    gradings = _frame(gradings_frame)
    scores = _frame(scores_frame)
    points = _frame(points_frame)


def frames_of(results: RunResults) -> RunFrames:
    """The DataFrames of built results."""
    return RunFrames(results)


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
