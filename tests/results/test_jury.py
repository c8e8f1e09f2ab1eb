"""A jury of graders: each grader's R-majority, then the graders' majority or unanimity."""

from __future__ import annotations

from pathlib import Path

from skillmix.config import ExtraGrader, ModelEntry, parse_config
from skillmix.protocol.grading import JuryRule
from skillmix.records import GenerationRecord, GenerationStatus, GradingStatus, Item
from skillmix.results.build import RunData, build_results
from skillmix.results.jury import jury_gradings, with_jury
from tests.helpers.configs import model_entry, run_config
from tests.results.test_cross_grader import ALL_ONES, grading

ITEM = Item(item_id="k1-00000", k=1, index=0, skills=("x",), topic="t", has_common_skill=False)


def three_graders() -> RunData:
    """Answer 0: A and B fail the topic, C passes it. Answer 1: only C fails the sense.
    Answer 2: C fails the sense, A passes it, B's one grading is unscored (B abstains)."""
    data = run_config(
        Path("run"),
        students=[model_entry("scripted/s", name="s")],
        grader="scripted/A",
        k=[1],
        items_per_k=1,
        generations=3,
    )
    extra = tuple(
        ExtraGrader(entry=ModelEntry(model=f"scripted/{name}"), gradings=1) for name in "BC"
    )
    records = [
        grading("scripted/A", 0, ALL_ONES | {"topic": 0}),
        grading("scripted/B", 0, ALL_ONES | {"topic": 0}),
        grading("scripted/C", 0, ALL_ONES),
        grading("scripted/A", 1, ALL_ONES),
        grading("scripted/B", 1, ALL_ONES),
        grading("scripted/C", 1, ALL_ONES | {"sense": 0}),
        grading("scripted/A", 2, ALL_ONES),
        grading("scripted/B", 2, ALL_ONES, status=GradingStatus.UNSCORED),
        grading("scripted/C", 2, ALL_ONES | {"sense": 0}),
    ]
    answers = [
        GenerationRecord(
            student="s", item_id=ITEM.item_id, gen=gen, status=GenerationStatus.OK, answer="x"
        )
        for gen in range(3)
    ]
    return RunData(parse_config(data, "<test>"), [ITEM], answers, records, graders=extra)


def jury_points(rule: JuryRule) -> dict[int, dict[str, int]]:
    return {g.gen: dict(g.points or {}) for g in jury_gradings(three_graders(), rule, "jury")}


def test_majority_and_unanimity_by_hand() -> None:
    majority, unanimous = jury_points(JuryRule.MAJORITY), jury_points(JuryRule.UNANIMOUS)
    assert majority[0] == unanimous[0] == ALL_ONES | {"topic": 0}  # 2 of 3 fail it
    assert majority[1] == ALL_ONES  # 2 of 3 pass the sense
    assert unanimous[1] == ALL_ONES | {"sense": 0}  # one fails it
    assert majority[2] == ALL_ONES | {"sense": 0}  # B abstains: 1 of 2 is a tie, which fails


def test_the_jury_is_scored_like_a_grader() -> None:
    def full_marks(rule: JuryRule) -> float:
        data = with_jury(three_graders(), rule)
        assert data.config.grader.label == f"jury ({rule}: scripted/A, scripted/B, scripted/C)"
        rows = build_results(data).rows
        return next(r.value for r in rows if r.metric == "full_marks")

    assert full_marks(JuryRule.MAJORITY) == 1.0  # answer 1 earns full marks: best of three
    assert full_marks(JuryRule.UNANIMOUS) == 0.0
