"""Agreement across graders: each grader's verdict on every rubric point of every answer, set
against a reference grader's, per kind of criterion and per criterion.

A grader's verdict on a point is the majority of its R gradings of the points as it gave them
(before the sentence rule and naming penalty, which are the same for every grader); points a
grader left unscored are left out of its comparisons.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from skillmix.protocol.grading import majority
from skillmix.records import GradingRecord, GradingStatus
from skillmix.results.build import RunData, read_run
from skillmix.results.stats.agreement import (
    cohen_kappa,
    krippendorff_alpha_nominal,
    percent_agreement,
)
from skillmix.run.store import RunStore

Unit = tuple[str, str, int, str]  # student, item id, generation, rubric key
KINDS = ("skill", "topic", "sense", "sentences")


Source = RunData | Path | str  # a run's records, or its run directory


def run_data(source: Source) -> RunData:
    if isinstance(source, RunData):
        return source
    store = RunStore.open_for_reading(Path(source))
    try:
        return read_run(store)
    finally:
        store.close()


def graders_of(data: RunData) -> dict[str, int]:
    """Each grader's label and its R: the run's own first, then those `regrade` added."""
    graders = {data.config.grader.label: data.config.gradings}
    graders |= {g.entry.label: g.gradings for g in data.graders}
    return graders


def verdicts(
    gradings: list[GradingRecord], grader: str, r: int, *, final: bool = False
) -> dict[Unit, int]:
    """The grader's majority verdict per answer and rubric point, on the points as it gave
    them (or, `final`, as scored: after the sentence rule and naming penalty)."""
    by_answer: dict[tuple[str, str, int], list[dict[str, int]]] = defaultdict(list)
    for g in gradings:
        points = g.points if final else g.grader_points
        if g.grader == grader and g.grading < r and g.status is GradingStatus.SCORED and points:
            by_answer[(g.student, g.item_id, g.gen)].append(dict(points))
    return {
        (*answer, key): point
        for answer, points in by_answer.items()
        for key, point in majority(points).items()
    }


def kind_of(key: str) -> str:
    return key.split(":", 1)[0]


def _pairs(
    reference: dict[Unit, int], other: dict[Unit, int], kind: str | None
) -> tuple[np.ndarray, np.ndarray]:
    units = [u for u in reference if u in other and (kind is None or kind_of(u[3]) == kind)]
    return (
        np.array([reference[u] for u in units], dtype=float),
        np.array([other[u] for u in units], dtype=float),
    )


def _row(grader: str, kind: str | None, ref: np.ndarray, got: np.ndarray) -> dict[str, object]:
    n = len(ref)
    return {
        "grader": grader,
        "criterion": kind or "all",
        "units": n,
        "percent_agreement": percent_agreement(np.vstack([ref, got])) if n else math.nan,
        "cohen_kappa": cohen_kappa(ref, got) if n else math.nan,
        "krippendorff_alpha": krippendorff_alpha_nominal(np.vstack([ref, got])) if n else math.nan,
        "both_1": int(np.sum((ref == 1) & (got == 1))),
        "both_0": int(np.sum((ref == 0) & (got == 0))),
        "false_pass": int(np.sum((ref == 0) & (got == 1))),  # the reference fails it
        "false_fail": int(np.sum((ref == 1) & (got == 0))),
    }


def _against_reference(
    data: RunData, reference: str | None
) -> tuple[dict[Unit, int], dict[str, dict[Unit, int]]]:
    """The reference grader's verdicts (the run's own grader by default), and every other's."""
    graders = graders_of(data)
    reference = reference or data.config.grader.label
    if reference not in graders:
        known = ", ".join(map(repr, graders))
        raise ValueError(f"no grader {reference!r} in this run (graders: {known})")
    every = {grader: verdicts(data.gradings, grader, r) for grader, r in graders.items()}
    return every.pop(reference), every


def cross_grader_agreement(source: Source, reference: str | None = None) -> pd.DataFrame:
    """Per other grader and kind of criterion (and all together): the units both graded,
    percent agreement, Cohen's kappa and Krippendorff's alpha with the reference grader (the
    run's own by default), and the confusion counts, the reference's verdict taken as right."""
    ref, others = _against_reference(run_data(source), reference)
    rows = []
    for grader, other in others.items():
        for kind in (*KINDS, None):
            rows.append(_row(grader, kind, *_pairs(ref, other, kind)))
    return pd.DataFrame(rows)


def disagreements(source: Source, reference: str | None = None, top: int = 10) -> pd.DataFrame:
    """The rubric criteria the graders disagree on most with the reference: per grader and
    criterion (a skill by name; topic, sense, sentences), the share of answers judged apart."""
    ref, others = _against_reference(run_data(source), reference)
    rows = []
    for grader, other in others.items():
        apart: dict[str, list[bool]] = defaultdict(list)
        for unit, verdict in ref.items():
            if unit in other:
                apart[unit[3]].append(verdict != other[unit])
        for key, flags in apart.items():
            rows.append({"grader": grader, "criterion": key, "units": len(flags)})
            rows[-1]["disagreement"] = sum(flags) / len(flags)
    columns = ["grader", "criterion", "units", "disagreement"]
    frame = pd.DataFrame(rows, columns=columns)
    order = ["grader", "disagreement", "units", "criterion"]
    ranked = frame.sort_values(order, ascending=[True, False, False, True])
    return ranked.groupby("grader").head(top).reset_index(drop=True)
