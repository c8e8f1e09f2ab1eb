"""Metrics per generation, max over generations, mean and standard error per k."""

from __future__ import annotations

import math

import pytest

from skillmix.records import GenerationRecord, GenerationStatus, GradingRecord, GradingStatus, Item
from skillmix.results.metrics import (
    aggregate,
    all_skills,
    full_marks,
    item_outcomes,
    skill_fraction,
)


def pts(skills: list[int], topic: int = 1, sense: int = 1, sentences: int = 1) -> dict[str, int]:
    points = {f"skill:s{i}": v for i, v in enumerate(skills)}
    return {**points, "topic": topic, "sense": sense, "sentences": sentences}


@pytest.mark.parametrize(
    ("points", "full", "every_skill", "fraction"),
    [
        (pts([1, 1]), 1.0, 1.0, 1.0),
        (pts([1, 0]), 0.0, 0.0, 0.5),
        (pts([1, 1], sentences=0), 0.0, 1.0, 0.0),  # t+m+l = 2: all skills yes, fraction 0
        (pts([1, 1], topic=0, sense=0), 0.0, 0.0, 0.0),
        (pts([0, 0, 1]), 0.0, 0.0, 1 / 3),
    ],
)
def test_metric_definitions(
    points: dict[str, int], full: float, every_skill: float, fraction: float
) -> None:
    assert full_marks(points) == full
    assert all_skills(points) == every_skill
    assert skill_fraction(points) == pytest.approx(fraction)


def item(k: int, index: int, common: bool = False) -> Item:
    skills = tuple(f"s{i}" for i in range(k))
    return Item(
        item_id=f"k{k}-{index}", k=k, index=index, skills=skills, topic="T", has_common_skill=common
    )


def gen(item_id: str, g: int, status: str = "ok") -> GenerationRecord:
    return GenerationRecord(
        student="m", item_id=item_id, gen=g, status=GenerationStatus(status), answer="x"
    )


def grading(
    item_id: str, g: int, r: int, points: dict[str, int] | None, status: str = "scored"
) -> GradingRecord:
    return GradingRecord(
        student="m",
        item_id=item_id,
        gen=g,
        grader="judge",
        grading=r,
        status=GradingStatus(status),
        points=points,
    )


def test_majority_then_max_over_generations_then_mean_and_stderr() -> None:
    items = [item(2, 0), item(2, 1), item(2, 2), item(2, 3, common=True)]
    gens = [gen(i.item_id, g) for i in items for g in range(2)]
    good, bad = pts([1, 1]), pts([1, 0])
    grads = [
        # item 0: gen 0 fails by majority (2 of 3 bad), gen 1 passes -> max = 1
        grading("k2-0", 0, 0, good),
        grading("k2-0", 0, 1, bad),
        grading("k2-0", 0, 2, bad),
        grading("k2-0", 1, 0, good),
        grading("k2-0", 1, 1, good),
        grading("k2-0", 1, 2, bad),
        # item 1: both generations bad -> 0 full marks, 0.5 skill fraction
        *(grading("k2-1", g, r, bad) for g in range(2) for r in range(3)),
        # item 2: every grading unscored -> counted at 0 (and reported as unscored)
        *(grading("k2-2", g, r, None, "unscored") for g in range(2) for r in range(3)),
        # item 3 holds a common skill: left out when scoring drops them
        *(grading("k2-3", g, r, good) for g in range(2) for r in range(3)),
    ]
    outcomes = item_outcomes(items, ["m"], "judge", 2, 3, gens, grads)
    rows = {r.metric: r for r in aggregate(items, outcomes, ["m"], drop_common=True)}
    assert rows["full_marks"].value == pytest.approx(1 / 3) and rows["full_marks"].n == 3
    assert rows["full_marks"].stderr == pytest.approx(1 / 3)  # std([1, 0, 0], ddof=1) / sqrt(3)
    assert rows["skill_fraction"].value == pytest.approx(0.5)  # (1 + 0.5 + 0) / 3
    assert rows["full_marks"].unscored == 1 and rows["full_marks"].failed == 0
    kept = {r.metric: r for r in aggregate(items, outcomes, ["m"], drop_common=False)}
    assert kept["full_marks"].n == 4 and kept["full_marks"].value == pytest.approx(2 / 4)


def test_failed_pending_and_empty_answers_are_counted_apart() -> None:
    items = [item(1, 0), item(1, 1), item(1, 2)]
    gens = [gen("k1-0", 0, "failed"), gen("k1-2", 0, "empty")]
    grads = [grading("k1-2", 0, 0, pts([0], 0, 0, 0))]
    outcomes = item_outcomes(items, ["m"], "judge", 1, 1, gens, grads)
    row = next(
        r for r in aggregate(items, outcomes, ["m"], drop_common=True) if r.metric == "full_marks"
    )
    assert (row.n, row.failed, row.pending, row.unscored) == (1, 1, 1, 0)
    assert row.value == 0.0 and math.isnan(row.stderr)  # one value: no standard error


def test_gradings_of_another_grader_or_beyond_r_are_ignored() -> None:
    items = [item(1, 0)]
    gens = [gen("k1-0", 0)]
    grads = [
        grading("k1-0", 0, 0, pts([0])),
        grading("k1-0", 0, 5, pts([1])),  # beyond R = 1 (left by an earlier config)
        GradingRecord(
            student="m",
            item_id="k1-0",
            gen=0,
            grader="other",
            grading=0,
            status=GradingStatus.SCORED,
            points=pts([1]),
        ),
    ]
    outcomes = item_outcomes(items, ["m"], "judge", 1, 1, gens, grads)
    assert outcomes[("m", "k1-0")].points == (pts([0]),)
