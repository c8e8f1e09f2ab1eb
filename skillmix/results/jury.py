"""A jury of the run's graders: per answer and rubric point, each grader's own R-majority
first, then the graders' majority (ties fail the point) or their unanimity. The jury's verdicts
become one grading per answer, so the results builder scores them like any grader's."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from skillmix.config import ModelEntry
from skillmix.protocol.grading import JuryRule
from skillmix.records import GradingRecord, GradingStatus
from skillmix.results.build import RunData
from skillmix.results.cross_grader import Unit, graders_of, verdicts


def jury_label(data: RunData, rule: JuryRule) -> str:
    return f"jury ({rule.value}: {', '.join(graders_of(data))})"


def _combined(votes: list[int], rule: JuryRule) -> int:
    if rule is JuryRule.UNANIMOUS:
        return int(all(votes))
    return int(2 * sum(votes) > len(votes))


def jury_gradings(data: RunData, rule: JuryRule, label: str) -> list[GradingRecord]:
    """One scored grading per answer that at least one grader scored; a grader with no
    verdict on an answer (every grading unscored or failed) abstains on it."""
    votes: dict[Unit, list[int]] = defaultdict(list)
    for grader, r in graders_of(data).items():
        for unit, verdict in verdicts(data.gradings, grader, r, final=True).items():
            votes[unit].append(verdict)
    points: dict[tuple[str, str, int], dict[str, int]] = defaultdict(dict)
    for (student, item_id, gen, key), cast in votes.items():
        points[(student, item_id, gen)][key] = _combined(cast, rule)
    return [
        GradingRecord(
            student=student,
            item_id=item_id,
            gen=gen,
            grader=label,
            grading=0,
            status=GradingStatus.SCORED,
            points=answer_points,
            attempts=0,
            cost_usd=0.0,
        )
        for (student, item_id, gen), answer_points in points.items()
    ]


def with_jury(data: RunData, rule: JuryRule) -> RunData:
    """The run as if the jury had been its grader (its members' costs stay theirs)."""
    label = jury_label(data, rule)
    jury = ModelEntry(model="imported/jury", name=label)
    config = data.config.model_copy(update={"grader": jury, "gradings": 1})
    return dataclasses.replace(data, config=config, gradings=jury_gradings(data, rule, label))
