"""A run as pandas DataFrames, from its store or from a JSONL export, and the JSONL export.

frames = skillmix.load_run("runs/quickstart")
frames.scores.groupby(["student", "k"]).full_marks.mean()
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from skillmix.config import RunConfig
from skillmix.metrics import METRICS, item_outcomes
from skillmix.sampler import CommonSkills, Item
from skillmix.store import GenerationRecord, GradingRecord, RunStore

ITEM_FIELDS = ["item_id", "k", "index", "skills", "topic", "has_common_skill"]
GENERATION_FIELDS = list(GenerationRecord.model_fields)
GRADING_FIELDS = list(GradingRecord.model_fields)


@dataclass(frozen=True)
class RunFrames:
    config: RunConfig
    items: pd.DataFrame  # one row per item of the plan
    generations: pd.DataFrame  # one row per (student, item, generation)
    gradings: pd.DataFrame  # one row per (student, item, generation, grader, grading)
    scores: pd.DataFrame  # one row per (student, item): status and each metric (max over gens)
    points: pd.DataFrame  # one row per (student, item, generation, criterion): majority point


def _records(models: list[Any], fields: list[str]) -> pd.DataFrame:
    return pd.DataFrame([m.model_dump() for m in models], columns=fields)


def _items_frame(items: list[Item]) -> pd.DataFrame:
    rows = [{**item.model_dump(), "skills": list(item.skills)} for item in items]
    return pd.DataFrame(rows, columns=ITEM_FIELDS)


def build_frames(
    config: RunConfig, items: list[Item], gens: list[GenerationRecord], grads: list[GradingRecord]
) -> RunFrames:
    items = [i for i in items if i.k in config.k and i.index < config.items_per_k]
    students = [s.label for s in config.students]
    outcomes = item_outcomes(
        items, students, config.grader.label, config.generations, config.gradings, gens, grads
    )
    drop_common = config.common_skills is CommonSkills.SCORING
    score_rows, point_rows = [], []
    for (student, item_id), outcome in outcomes.items():
        item = next(i for i in items if i.item_id == item_id)
        row: dict[str, Any] = {
            "student": student,
            "item_id": item_id,
            "k": item.k,
            "status": outcome.status,
            "counted": not (drop_common and item.has_common_skill),
        }
        for name, metric in METRICS.items():
            scored = [metric(points) for points in outcome.points]
            row[name] = max(scored) if scored else None
        score_rows.append(row)
        for gen, points in outcome.by_generation.items():
            for criterion, point in points.items():
                skill = criterion.removeprefix("skill:") if criterion.startswith("skill:") else None
                point_rows.append(
                    {
                        "student": student,
                        "item_id": item_id,
                        "k": item.k,
                        "gen": gen,
                        "criterion": criterion,
                        "skill": skill,
                        "point": point,
                    }
                )
    return RunFrames(
        config=config,
        items=_items_frame(items),
        generations=_records(gens, GENERATION_FIELDS),
        gradings=_records(grads, GRADING_FIELDS),
        scores=pd.DataFrame(score_rows),
        points=pd.DataFrame(
            point_rows, columns=["student", "item_id", "k", "gen", "criterion", "skill", "point"]
        ),
    )


def frames_from_store(store: RunStore) -> RunFrames:
    stored = store.get_meta("config")
    if stored is None:
        raise FileNotFoundError(f"{store.path}: the run has no configuration stored yet")
    config = RunConfig.model_validate_json(stored)
    return build_frames(config, store.items(), store.generations(), store.gradings())


def export_jsonl(store: RunStore, out: Path) -> int:
    """Every stored item, generation and grading: one JSON object per line, tagged by `table`,
    the first line carrying the run's configuration. Returns the number of lines."""
    lines: list[dict[str, Any]] = [
        {"table": "config", **json.loads(store.get_meta("config") or "{}")}
    ]
    lines += [{"table": "item", **item.model_dump(mode="json")} for item in store.items()]
    lines += [{"table": "generation", **g.model_dump(mode="json")} for g in store.generations()]
    lines += [{"table": "grading", **g.model_dump(mode="json")} for g in store.gradings()]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(lines)


def frames_from_jsonl(path: Path) -> RunFrames:
    tables: dict[str, list[dict[str, Any]]] = {
        "config": [],
        "item": [],
        "generation": [],
        "grading": [],
    }
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            record = json.loads(line)
            table = record.pop("table", None)
            if table not in tables:
                raise ValueError(f"{path}: line {number}: unknown table {table!r}")
            tables[table].append(record)
    if len(tables["config"]) != 1:
        raise ValueError(f"{path}: expected one config line")
    return build_frames(
        RunConfig.model_validate(tables["config"][0]),
        [Item.model_validate(r) for r in tables["item"]],
        [GenerationRecord.model_validate(r) for r in tables["generation"]],
        [GradingRecord.model_validate(r) for r in tables["grading"]],
    )


def load_run(path: Path | str) -> RunFrames:
    """A run directory, or a JSONL file written by `skillmix export --jsonl`, as DataFrames."""
    path = Path(path)
    if path.is_file():
        return frames_from_jsonl(path)
    store = RunStore.open_existing(path)
    try:
        return frames_from_store(store)
    finally:
        store.close()
