"""Skill-Mix metrics: per graded generation, max over generations, mean and standard error per k."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from skillmix.protocol.grading import majority
from skillmix.records import (
    GenerationRecord,
    GenerationStatus,
    GradingRecord,
    GradingStatus,
    Item,
    OutcomeStatus,
    Points,
)


def metric_values(points: Points) -> tuple[float, float, float]:
    """full_marks, all_skills and skill_fraction of one generation's points, in one pass."""
    skills = [v for key, v in points.items() if key.startswith("skill:")]
    others = points["topic"] + points["sense"] + points["sentences"]
    full = float(all(map((1).__eq__, points.values())))
    fraction = sum(skills) / len(skills) if others == 3 else 0.0
    return full, float(all(skills) and others >= 2), fraction


def full_marks(points: Points) -> float:
    return metric_values(points)[0]


def all_skills(points: Points) -> float:
    return metric_values(points)[1]


def skill_fraction(points: Points) -> float:
    return metric_values(points)[2]


METRICS: dict[str, Callable[[Points], float]] = {
    "full_marks": full_marks,
    "all_skills": all_skills,
    "skill_fraction": skill_fraction,
}


UNSCORED_KINDS = (OutcomeStatus.UNSCORED, OutcomeStatus.FAILED, OutcomeStatus.PENDING)


@dataclass(frozen=True)
class Outcome:
    """One generation or item: its points, or why it has none (unscored, failed, pending)."""

    status: OutcomeStatus
    points: tuple[Points, ...] = ()  # one per scored generation (for items)
    gens: tuple[int, ...] = ()  # the generation index of each entry of `points`

    @property
    def by_generation(self) -> dict[int, Points]:
        return dict(zip(self.gens, self.points, strict=True))

    @cached_property
    def headline(self) -> dict[str, float | None]:
        """Each metric's value in the headline figures (the table and the frames use it,
        computed once): the best generation's, 0 when the answers could not be scored (so a
        student gains nothing by making gradings unreadable), None when there is no answer to
        count (a failed call, or not run yet)."""
        if self.status != OutcomeStatus.SCORED:
            value = 0.0 if self.status == OutcomeStatus.UNSCORED else None
            return dict.fromkeys(METRICS, value)
        if len(self.points) == 1:
            return dict(zip(METRICS, metric_values(self.points[0]), strict=True))
        best = [max(column) for column in zip(*map(metric_values, self.points), strict=True)]
        return dict(zip(METRICS, best, strict=True))


@dataclass(frozen=True)
class MetricRow:
    student: str
    k: int
    metric: str
    value: float
    stderr: float
    n: int
    unscored: int
    failed: int
    pending: int


def generation_outcome(
    gen: GenerationRecord | None, gradings: list[GradingRecord]
) -> tuple[OutcomeStatus, Points | None]:
    """One generation's status, and its points (the majority of its scored gradings)."""
    if gen is None:
        return OutcomeStatus.PENDING, None
    if gen.status == GenerationStatus.FAILED:
        return OutcomeStatus.FAILED, None
    scored = [
        g.points for g in gradings if g.status == GradingStatus.SCORED and g.points is not None
    ]
    if scored:
        return OutcomeStatus.SCORED, scored[0] if len(scored) == 1 else majority(scored)
    if not gradings:
        return OutcomeStatus.PENDING, None
    unscored = any(g.status == GradingStatus.UNSCORED for g in gradings)
    return (OutcomeStatus.UNSCORED if unscored else OutcomeStatus.FAILED), None


def item_outcome(generations: list[tuple[OutcomeStatus, Points | None]]) -> Outcome:
    """Generation outcomes in generation order -> the item's outcome."""
    scored = [(index, points) for index, (_, points) in enumerate(generations) if points]
    if scored:
        gens, points = zip(*scored, strict=True)
        return Outcome(OutcomeStatus.SCORED, points, gens)
    for status in (OutcomeStatus.PENDING, OutcomeStatus.UNSCORED):
        if any(found == status for found, _ in generations):
            return Outcome(status)
    return Outcome(OutcomeStatus.FAILED)


def stderr(values: list[float]) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def item_outcomes(
    items: list[Item],
    students: list[str],
    grader: str,
    generations: int,
    gradings: int,
    gen_records: list[GenerationRecord],
    grading_records: list[GradingRecord],
) -> dict[tuple[str, str], Outcome]:
    gens = {(g.student, g.item_id, g.gen): g for g in gen_records}
    grads: dict[tuple[str, str, int], list[GradingRecord]] = {}
    for r in grading_records:
        if r.grader == grader and r.grading < gradings:
            grads.setdefault((r.student, r.item_id, r.gen), []).append(r)
    outcomes = {}
    for student in students:
        for item in items:
            keys = [(student, item.item_id, g) for g in range(generations)]
            outcomes[(student, item.item_id)] = item_outcome(
                [generation_outcome(gens.get(key), grads.get(key, [])) for key in keys]
            )
    return outcomes


def aggregate(
    items: list[Item],
    outcomes: dict[tuple[str, str], Outcome],
    students: list[str],
    *,
    drop_common: bool,
) -> list[MetricRow]:
    by_k: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        if not (drop_common and item.has_common_skill):
            by_k[item.k].append(item)
    rows = []
    for student in students:
        for k in sorted({i.k for i in items}):
            found = [outcomes[(student, i.item_id)] for i in by_k[k]]
            counts = {s.value: sum(o.status == s for o in found) for s in UNSCORED_KINDS}
            for name in METRICS:
                values = [v for o in found if (v := o.headline[name]) is not None]
                mean = float(np.mean(values)) if values else math.nan
                rows.append(
                    MetricRow(student, k, name, mean, stderr(values), len(values), **counts)
                )
    return rows
