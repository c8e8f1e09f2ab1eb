"""Agreement across graders, on small cases computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.config import ExtraGrader, ModelEntry, parse_config
from skillmix.records import GradingRecord, GradingStatus
from skillmix.results.build import RunData
from skillmix.results.cross_grader import cross_grader_agreement, disagreements, verdicts
from tests.helpers.configs import run_config

KEYS = ("skill:x", "topic", "sense", "sentences")
ALL_ONES = dict.fromkeys(KEYS, 1)


def grading(
    grader: str,
    gen: int,
    points: dict[str, int],
    r: int = 0,
    status: GradingStatus = GradingStatus.SCORED,
) -> GradingRecord:
    return GradingRecord(
        student="s",
        item_id="k1-00000",
        gen=gen,
        grader=grader,
        grading=r,
        status=status,
        grader_points=points,
        points=points,
    )


def run_data(gradings: list[GradingRecord], r: int = 1) -> RunData:
    config = parse_config(run_config(Path("run"), grader="scripted/A", gradings=r), "<test>")
    other = ExtraGrader(entry=ModelEntry(model="scripted/B"), gradings=r)
    return RunData(config, [], [], gradings, graders=(other,))


def four_answers() -> RunData:
    """A fails answer 0's sense and answer 1's skill; B passes answer 0's sense (a false pass)
    and fails answer 2's topic (a false fail): 14 of 16 points alike."""
    a = [ALL_ONES | {"sense": 0}, ALL_ONES | {"skill:x": 0}, ALL_ONES, ALL_ONES]
    b = [ALL_ONES, ALL_ONES | {"skill:x": 0}, ALL_ONES | {"topic": 0}, ALL_ONES]
    records = [grading("scripted/A", gen, points) for gen, points in enumerate(a)]
    return run_data(records + [grading("scripted/B", gen, p) for gen, p in enumerate(b)])


def test_agreement_with_the_reference_grader_by_hand() -> None:
    table = cross_grader_agreement(four_answers()).set_index("criterion")
    overall = table.loc["all"]
    assert overall["grader"] == "scripted/B" and overall["units"] == 16
    assert overall["percent_agreement"] == pytest.approx(14 / 16)
    # p_o = 14/16; each grader has 14 ones: p_e = (14/16)^2 + (2/16)^2 = 0.78125
    assert overall["cohen_kappa"] == pytest.approx((0.875 - 0.78125) / (1 - 0.78125))
    # coincidences: o_11 = 26, o_00 = 2, o_01 = o_10 = 2; n_1 = 28, n_0 = 4, n = 32
    expected_disagreement = (32**2 - 28**2 - 4**2) / (32 * 31)
    assert overall["krippendorff_alpha"] == pytest.approx(1 - (4 / 32) / expected_disagreement)
    assert (overall["both_1"], overall["both_0"]) == (13, 1)
    assert (overall["false_pass"], overall["false_fail"]) == (1, 1)
    sense = table.loc["sense"]
    assert sense["percent_agreement"] == pytest.approx(3 / 4)
    assert sense["cohen_kappa"] == pytest.approx(0.0)  # B passes every sense: no information
    assert table.loc["sentences", "percent_agreement"] == 1.0


def test_the_criteria_disagreed_on_most_come_first() -> None:
    ranked = disagreements(four_answers())
    assert list(ranked["criterion"]) == ["sense", "topic", "sentences", "skill:x"]
    assert list(ranked["disagreement"]) == [0.25, 0.25, 0.0, 0.0]


def test_a_grader_s_verdict_is_its_majority_and_unscored_gradings_do_not_count() -> None:
    records = [
        grading("scripted/A", 0, ALL_ONES | {"topic": 0}, r=0),
        grading("scripted/A", 0, ALL_ONES, r=1),
        grading("scripted/A", 0, ALL_ONES | {"topic": 0, "sense": 0}, r=2),
        grading("scripted/A", 1, ALL_ONES, r=0, status=GradingStatus.UNSCORED),
    ]
    got = verdicts(records, "scripted/A", 3)
    assert got[("s", "k1-00000", 0, "topic")] == 0  # 0, 1, 0
    assert got[("s", "k1-00000", 0, "sense")] == 1  # 1, 1, 0
    assert not any(unit[2] == 1 for unit in got)  # the unscored answer has no verdict
    assert verdicts(records, "scripted/A", 1)[("s", "k1-00000", 0, "topic")] == 0  # R = 1


def test_an_unknown_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="no grader 'C'"):
        cross_grader_agreement(four_answers(), reference="C")
