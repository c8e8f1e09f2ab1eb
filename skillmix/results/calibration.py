"""How a grader did on the labelled calibration set: per kind of criterion, its accuracy and its
false-pass and false-fail rates; and how often it agrees with the labels on full marks.

A grader's verdict on a point is the majority of its R gradings, as it gave them (the sentence
point too: the run then overwrites it by count, but a grader that cannot count shows here).
Full marks are judged on the points as scored (after the sentence rule and naming penalty),
as the run's headline figure is.
"""

from __future__ import annotations

import math

import pandas as pd

from skillmix.protocol.calibration_set import CalibrationAnswer, expected_points
from skillmix.records import GradingRecord
from skillmix.results.cross_grader import KINDS, kind_of, verdicts


def _rates(pairs: list[tuple[int, int]]) -> dict[str, float | int]:
    """(label, verdict) pairs -> n, accuracy, false-pass and false-fail rates."""
    failing = [verdict for label, verdict in pairs if label == 0]
    passing = [verdict for label, verdict in pairs if label == 1]
    return {
        "n": len(pairs),
        "accuracy": sum(a == b for a, b in pairs) / len(pairs) if pairs else math.nan,
        "labelled_0": len(failing),
        "false_pass_rate": sum(failing) / len(failing) if failing else math.nan,
        "labelled_1": len(passing),
        "false_fail_rate": passing.count(0) / len(passing) if passing else math.nan,
    }


def calibration_table(
    answers: dict[str, CalibrationAnswer],
    gradings: list[GradingRecord],
    grader: str,
    r: int,
    student: str,
) -> pd.DataFrame:
    """Per kind of criterion (skill, topic, sense, sentences, all): the grader against the
    labels, over the points it gave a verdict on."""
    given = verdicts(gradings, grader, r)
    pairs: dict[str, list[tuple[int, int]]] = {kind: [] for kind in (*KINDS, "all")}
    for item_id, answer in answers.items():
        for key, label in expected_points(answer).items():
            verdict = given.get((student, item_id, 0, key))
            if verdict is not None:
                pairs[kind_of(key)].append((label, verdict))
                pairs["all"].append((label, verdict))
    return pd.DataFrame([{"criterion": kind, **_rates(found)} for kind, found in pairs.items()])


def full_marks_agreement(
    answers: dict[str, CalibrationAnswer],
    gradings: list[GradingRecord],
    grader: str,
    r: int,
    student: str,
) -> dict[str, float | int]:
    """Over the answers it scored: how often its full marks (as scored) match the labels',
    and the answers it gave full marks that the labels do not (and the reverse)."""
    scored = verdicts(gradings, grader, r, final=True)
    pairs = []
    for item_id, answer in answers.items():
        labels = expected_points(answer)
        points = [scored.get((student, item_id, 0, key)) for key in labels]
        if all(point is not None for point in points):
            pairs.append((int(all(labels.values())), int(all(points))))
    rates = _rates(pairs)
    return {
        "answers": len(pairs),
        "agreement": rates["accuracy"],
        "false_full_marks": sum(verdict and not label for label, verdict in pairs),
        "missed_full_marks": sum(label and not verdict for label, verdict in pairs),
    }
