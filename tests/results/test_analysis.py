"""Analysis tables on a hand-built run whose answers are known."""

from __future__ import annotations

import math
from typing import cast

import pandas as pd
import pytest
from typer.testing import CliRunner

from skillmix import analysis
from skillmix.config import NoveltyAssumptions, parse_config
from skillmix.records import GenerationRecord, GenerationStatus, GradingRecord, GradingStatus, Item
from skillmix.results.frames import RunFrames, build_frames
from tests.helpers.configs import model_entry, run_config

SKILLS = ("metaphor", "red herring")


def points(metaphor: int, herring: int, rest: int = 1) -> dict[str, int]:
    return {
        "skill:metaphor": metaphor,
        "skill:red herring": herring,
        "topic": rest,
        "sense": rest,
        "sentences": rest,
    }


# item -> (student a's points, student b's points); one generation, two identical gradings
DESIGN = {
    0: (points(1, 1), points(1, 1)),
    1: (points(1, 1), points(1, 0)),
    2: (points(1, 0), points(1, 0)),
    3: (points(0, 0), points(0, 0, rest=0)),
}


def frames() -> RunFrames:
    data = run_config(
        "/nonexistent",
        name="hand",
        k=[2],
        items_per_k=4,
        gradings=2,
        common_skills="keep",
        students=[
            model_entry("llamacpp/smollm2", name="a"),
            model_entry("llamacpp/smollm2", name="b"),
        ],
        grader=model_entry("llamacpp/smollm2", name="judge"),
    )
    config = parse_config(data, "hand.yaml")
    items = [
        Item(
            item_id=f"k2-{i}",
            k=2,
            index=i,
            skills=SKILLS,
            topic=f"T{i % 2}",
            has_common_skill=False,
        )
        for i in DESIGN
    ]
    gens, grads = [], []
    for index, by_student in DESIGN.items():
        for student, pts in zip(("a", "b"), by_student, strict=True):
            answer = "word " * (10 if pts["skill:metaphor"] else 3)
            gens.append(
                GenerationRecord(
                    student=student,
                    item_id=f"k2-{index}",
                    gen=0,
                    status=GenerationStatus.OK,
                    answer=answer,
                )
            )
            for r in range(2):
                grads.append(
                    GradingRecord(
                        student=student,
                        item_id=f"k2-{index}",
                        gen=0,
                        grader="judge",
                        grading=r,
                        status=GradingStatus.SCORED,
                        points=pts,
                        grader_points=pts,
                    )
                )
    return build_frames(config, items, gens, grads)


def test_compare_gives_paired_difference_and_mcnemar() -> None:
    table = analysis.compare(frames(), "a", "b", resamples=500)
    row = table.iloc[0]
    assert row["n"] == 4 and row["a"] == 0.5 and row["b"] == 0.25  # full marks: 2/4 vs 1/4
    assert row["difference"] == pytest.approx(0.25)
    assert (row["a_only_full"], row["b_only_full"]) == (1, 0)
    assert row["mcnemar_p"] == 1.0 and row["test"] == "exact"  # one discordant pair
    assert row["ci_low"] <= 0.25 <= row["ci_high"]
    with pytest.raises(ValueError, match="no scored items for model 'c'"):
        analysis.compare(frames(), "a", "c")


def test_skill_breakdown_and_hardest_skills() -> None:
    breakdown = analysis.skill_breakdown(frames()).set_index(["student", "skill"])
    assert breakdown.loc[("a", "metaphor"), "rate"] == 0.75
    assert breakdown.loc[("a", "red herring"), "rate"] == 0.5
    assert breakdown.loc[("b", "red herring"), "rate"] == 0.25
    hardest = analysis.hardest_skills(frames(), top=1)
    assert list(hardest["skill"]) == ["red herring", "red herring"]


def test_uncertainty_matches_hand_computed_mean_and_stderr() -> None:
    table = analysis.uncertainty(frames(), resamples=500).set_index(["student", "metric"])
    row = cast(pd.Series, table.loc[("a", "full_marks")])
    assert row["mean"] == 0.5 and row["stderr"] == pytest.approx(math.sqrt(1 / 3) / 2)
    assert 0.0 <= row["ci_low"] <= 0.5 <= row["ci_high"] <= 1.0


def test_identical_gradings_agree_fully() -> None:
    agreement = analysis.grader_agreement(frames()).set_index("criterion")
    assert agreement.loc["all", "percent_agreement"] == 1.0
    assert agreement.loc["all", "krippendorff_alpha"] == pytest.approx(1.0)
    assert agreement.loc["skill", "units"] == 2 * 4 * 2  # students x items x skills


def test_length_correlation_sees_longer_answers_score_higher() -> None:
    table = analysis.length_and_score(frames()).set_index("student")
    assert cast(float, table.loc["a", "spearman_rho"]) > 0.5 and table.loc["a", "n"] == 4


def test_novelty_table() -> None:
    assumptions = NoveltyAssumptions(skill_frequency=0.001, topic_frequency=0.01, corpus_pieces=1e6)
    table = analysis.novelty(
        frames(), n_skills=101, n_common=17, n_topics=100, assumptions=assumptions
    ).set_index("student")
    assert table.loc["a", "possible_items"] == 505_000  # C(101, 2) * 100
    assert table.loc["a", "possible_items_without_common"] == 348_600  # C(84, 2) * 100
    seen = 0.001**2 * 0.01 * 1e6  # 0.01 of items could appear in the corpus at all
    assert table.loc["a", "seen_fraction_bound"] == pytest.approx(seen)
    assert table.loc["a", "novel_share_at_least"] == pytest.approx(1 - seen / 0.5)


def test_compare_command_rejects_unknown_metric(tmp_path: object) -> None:
    from skillmix.cli import app

    result = CliRunner().invoke(
        app, ["compare", "/nonexistent", "--a", "x", "--b", "y", "--metric", "speed"]
    )
    assert result.exit_code == 2 and "unknown metric 'speed'" in result.stderr
