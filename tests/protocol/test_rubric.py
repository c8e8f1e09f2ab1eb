"""The grader-reply parser, sentence rule and naming penalty on fixtures in the official format."""

from __future__ import annotations

import math
import re

import pytest

from skillmix.errors import UnparseableReply
from skillmix.protocol.grading import GradingPolicy, final_points, majority
from skillmix.protocol.replies import match_criterion, parse_point, parse_reply
from skillmix.protocol.rubric import Criterion, build_rubric
from skillmix.protocol.sentences import NamingPenalty, count_sentences
from tests.helpers.official import official_skills, read_records
from tests.helpers.paths import FIXTURES

RECORDS = read_records(FIXTURES / "official_format" / "graded_records.csv")


def fixture_name(row: dict[str, str]) -> str:
    match = re.search(r"\[fixture: (.*?)\]", row["user_0"])
    assert match is not None
    return match.group(1)


def student_answer(row: dict[str, str]) -> str:
    match = re.search(r'The student\'s answer was: "(.*)"\n', row["user_0"], re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("row", RECORDS, ids=fixture_name)
def test_reply_parses_onto_rubric_by_name(row: dict[str, str]) -> None:
    rubric = build_rubric(official_skills(row["skills"]), row["topic"])
    assert len(rubric) == int(row["k"]) + 3
    if not row["points_0"]:
        with pytest.raises(UnparseableReply):
            parse_reply(row["assistant_0"], rubric)
        return
    expected = [float(v) for v in row["points_0"].split(",")]
    points = parse_reply(row["assistant_0"], rubric)
    for item, want in zip(rubric, expected, strict=True):
        if math.isnan(want):
            assert item.key not in points
        else:
            assert points[item.key] == want, item.text


@pytest.mark.parametrize("row", RECORDS, ids=fixture_name)
def test_sentence_count_matches_fixture(row: dict[str, str]) -> None:
    answer = student_answer(row)
    assert count_sentences(answer) == int(row["num_sentences_manual_in_student_answer_0"])


def test_final_points_apply_sentence_rule_and_naming_penalty() -> None:
    row = next(r for r in RECORDS if fixture_name(r) == "names a skill, three sentences")
    rubric = build_rubric(official_skills(row["skills"]), row["topic"])
    raw = parse_reply(row["assistant_0"], rubric)
    points = final_points(raw, rubric, student_answer(row), GradingPolicy())
    assert raw["skill:metaphor"] == 1 and points["skill:metaphor"] == 0  # named in the answer
    assert raw["sentences"] == 1 and points["sentences"] == 0  # three sentences, limit two
    assert points["skill:modus ponens"] == 1 and points["topic"] == 1


def test_sentence_point_is_recomputed_even_when_grader_omits_it() -> None:
    rubric = build_rubric(("metaphor", "red herring"), "Knots")
    raw = {"skill:metaphor": 1, "skill:red herring": 1, "topic": 1, "sense": 1}
    assert final_points(raw, rubric, "One line. Two lines.", GradingPolicy())["sentences"] == 0
    assert final_points(raw, rubric, "Just one line here.", GradingPolicy())["sentences"] == 1


def test_rubric_shape_and_wording() -> None:
    rubric = build_rubric(("metaphor", "red herring", "modus ponens", "irony"), "Knots")
    assert [r.kind for r in rubric[-3:]] == [Criterion.TOPIC, Criterion.SENSE, Criterion.SENTENCES]
    assert rubric[-1].text == "At most three sentences"
    assert build_rubric(("metaphor",), "Knots")[-1].text == "At most one sentence"
    assert build_rubric(("a", "b"), "Knots")[-1].text == "At most one sentence"


@pytest.mark.parametrize(
    ("cell", "point"),
    [
        ("1", 1),
        ("0", 0),
        ("**1**", 1),
        ("1.0", 1),
        ("1/1", 1),
        ("0/1", 0),
        ("0.5", 0),
        ("1 point", 1),
    ],
)
def test_parse_point(cell: str, point: int) -> None:
    assert parse_point(cell) == point


def test_parse_point_rejects_values_above_one() -> None:
    with pytest.raises(UnparseableReply):
        parse_point("3")
    assert parse_point("n/a") is None


def test_total_and_unrelated_rows_match_nothing() -> None:
    rubric = build_rubric(("metaphor", "red herring"), "Knots")
    assert match_criterion("Total Points Earned", rubric) is None
    assert match_criterion("**Total**", rubric) is None
    assert match_criterion("Use of vocabulary", rubric) is None
    hit = match_criterion("Illustrates the Red-Herring", rubric)
    assert hit is None or hit.skill == "red herring"


def test_longest_skill_name_wins_when_one_contains_another() -> None:
    rubric = build_rubric(("irony", "dramatic irony"), "Knots")
    item = match_criterion("Correctly illustrates dramatic irony", rubric)
    assert item is not None and item.skill == "dramatic irony"


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("One sentence only.", 1),
        ("First one. Second one! Third one? Fourth", 4),
        ("Mr. Smith met Dr. Jones and Prof. Li. They talked.", 2),
        ('He said "Stop." "Why?" she asked.', 2),
        ("Numbers like 3.5 stay. lower-case after a stop does not split. Yes.", 2),
    ],
)
def test_official_sentence_rule(text: str, count: int) -> None:
    assert count_sentences(text) == count


def test_naming_penalty_rules() -> None:
    rubric = build_rubric(("accident (fallacy)", "irony"), "Knots")
    raw = {r.key: 1 for r in rubric}
    answer = "What an accidental knot."
    substring = final_points(raw, rubric, answer, GradingPolicy())
    assert substring["skill:accident (fallacy)"] == 0 and substring["skill:irony"] == 1
    word = final_points(raw, rubric, answer, GradingPolicy(naming=NamingPenalty.WORD))
    assert word["skill:accident (fallacy)"] == 1 and word["skill:irony"] == 1
    named = final_points(
        raw, rubric, "Pure Irony, by accident.", GradingPolicy(naming=NamingPenalty.WORD)
    )
    assert named["skill:accident (fallacy)"] == 0 and named["skill:irony"] == 0
    off = final_points(raw, rubric, answer, GradingPolicy(naming=NamingPenalty.OFF))
    assert off["skill:accident (fallacy)"] == 1


def test_majority_per_rubric_item() -> None:
    gradings = [{"a": 1, "b": 0}, {"a": 1, "b": 1}, {"a": 0, "b": 0}]
    assert majority(gradings) == {"a": 1, "b": 0}
    assert majority([{"a": 1}, {"a": 0}]) == {"a": 0}  # a tie does not earn the point
