"""The grader calibration set (data/calibration.yaml): its size and spread, labels that agree
with each answer's design and with skillmix's own sentence rule and naming penalty, and the
loader's one-line errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from skillmix.catalog import load_catalog
from skillmix.errors import SkillmixError
from skillmix.protocol.calibration_set import (
    CalibrationAnswer,
    Design,
    expected_points,
    load_calibration_set,
)
from skillmix.protocol.grading import GradingPolicy, final_points
from skillmix.protocol.rubric import build_rubric, sentence_limit
from skillmix.protocol.sentences import (
    NamingPenalty,
    SentenceSplitter,
    count_sentences,
    names_skill,
)
from tests.helpers.paths import ROOT

CATALOG = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")
SET = load_calibration_set(ROOT / "data" / "calibration.yaml", CATALOG)
ALL_ONES = {Design.ALL_CORRECT, Design.SUBTLE_BUT_CORRECT}


def answer_id(answer: CalibrationAnswer) -> str:
    return answer.id


def sentences(answer: CalibrationAnswer) -> int:
    return count_sentences(answer.answer, SentenceSplitter.OFFICIAL)


def zero_skills(answer: CalibrationAnswer) -> list[str]:
    return [skill for skill in answer.skills if answer.labels.skills[skill] == 0]


def test_the_set_is_large_and_spread_over_k_and_designs() -> None:
    assert len(SET) >= 66
    per_k = Counter(answer.k for answer in SET)
    assert all(per_k[k] >= 18 for k in (2, 3, 4)), per_k
    per_design = Counter(answer.design for answer in SET)
    assert all(per_design[design] >= 6 for design in Design), per_design
    assert len({answer.id for answer in SET}) == len(SET)
    assert len({answer.answer for answer in SET}) == len(SET)


@pytest.mark.parametrize("answer", SET, ids=answer_id)
def test_the_sentences_label_is_the_official_count(answer: CalibrationAnswer) -> None:
    limit = sentence_limit(answer.k)
    assert answer.labels.sentences == int(sentences(answer) <= limit)
    if answer.design is Design.TOO_MANY_SENTENCES:
        assert sentences(answer) == limit + 1


@pytest.mark.parametrize("answer", SET, ids=answer_id)
def test_the_labels_are_what_the_design_changes(answer: CalibrationAnswer) -> None:
    labels = answer.labels
    others = (labels.topic, labels.sense, labels.sentences)
    if answer.design in ALL_ONES:
        assert set(labels.skills.values()) == {1} and others == (1, 1, 1)
    elif answer.design in (Design.SKILL_MISSING, Design.SKILL_ONLY_NAMED):
        assert len(zero_skills(answer)) == 1 and others == (1, 1, 1)
    elif answer.design is Design.OFF_TOPIC:
        assert set(labels.skills.values()) == {1} and others == (0, 1, 1)
    elif answer.design is Design.TOO_MANY_SENTENCES:
        assert set(labels.skills.values()) == {1} and others == (1, 1, 0)
    else:
        assert answer.design is Design.NONSENSE and labels.sense == 0


@pytest.mark.parametrize("answer", SET, ids=answer_id)
def test_only_a_skill_only_named_answer_names_a_skill(answer: CalibrationAnswer) -> None:
    named = [s for s in answer.skills if names_skill(answer.answer, s, NamingPenalty.SUBSTRING)]
    if answer.design is Design.SKILL_ONLY_NAMED:
        assert named == zero_skills(answer)
    else:
        assert named == []


@pytest.mark.parametrize("answer", SET, ids=answer_id)
def test_a_grader_giving_the_labels_keeps_them_under_skillmix_rules(
    answer: CalibrationAnswer,
) -> None:
    rubric = build_rubric(answer.skills, answer.topic)
    points = expected_points(answer)
    assert list(points) == [item.key for item in rubric]
    assert final_points(points, rubric, answer.answer, GradingPolicy()) == points


@pytest.mark.parametrize("answer", SET, ids=answer_id)
def test_every_answer_has_a_rationale(answer: CalibrationAnswer) -> None:
    assert len(answer.rationale.split()) >= 8


ENTRY = """\
  - id: {id}
    skills: [metaphor, red herring]
    topic: Beekeeping
    answer: "The hive was a factory."
    design: all correct
    labels:
      skills: {{metaphor: 1, red herring: 1}}
      topic: 1
      sense: 1
      sentences: 1
    rationale: "A plain line for the loader's tests."
"""


def write_set(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "calibration.yaml"
    path.write_text("# a test set\nanswers:\n" + "".join(entries), encoding="utf-8")
    return path


def test_a_written_entry_loads(tmp_path: Path) -> None:
    (answer,) = load_calibration_set(write_set(tmp_path, ENTRY.format(id="t-1")), CATALOG)
    assert (answer.id, answer.k, answer.design) == ("t-1", 2, Design.ALL_CORRECT)
    assert expected_points(answer) == {
        "skill:metaphor": 1,
        "skill:red herring": 1,
        "topic": 1,
        "sense": 1,
        "sentences": 1,
    }


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("red herring", "red hering", "line 4: answers[0] (t-1).skills[1]: unknown skill"),
        ("Beekeeping", "beekeeping", "line 5: answers[0] (t-1).topic: unknown topic"),
        (
            "red herring: 1}",
            "red herring: 2}",
            "line 9: answers[0] (t-1).labels.skills.red herring: must be 0 or 1, not 2",
        ),
        ("sense: 1", "sense: true", "line 11: answers[0] (t-1).labels.sense: must be 0 or 1"),
        ("metaphor: 1,", "irony: 1,", "line 8: answers[0] (t-1).labels: skills keys must be"),
        ("[metaphor, red herring]", "[metaphor]", "line 4: answers[0] (t-1).skills: k must be"),
        ("all correct", "mostly fine", "line 7: answers[0] (t-1).design:"),
        ("    rationale", "    colour: red\n    rationale", "line 13: answers[0] (t-1).colour:"),
    ],
)
def test_a_bad_entry_is_one_error_naming_file_and_line(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    path = write_set(tmp_path, ENTRY.format(id="t-1").replace(old, new))
    with pytest.raises(SkillmixError) as caught:
        load_calibration_set(path, CATALOG)
    assert caught.value.file == str(path)
    assert str(caught.value).startswith(f"{path}: {where}")


def test_a_repeated_id_is_refused_where_it_repeats(tmp_path: Path) -> None:
    path = write_set(tmp_path, ENTRY.format(id="t-1"), ENTRY.format(id="t-1"))
    with pytest.raises(SkillmixError) as caught:
        load_calibration_set(path, CATALOG)
    assert str(caught.value) == (
        f"{path}: line 14: answers[1] (t-1).id: duplicate id (first on line 3)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("answers: []\n", "answers: no answers"),
        ("answer:\n  - id: x\n", "answers: expected a top-level 'answers:' list"),
        ("answers:\n  - just text\n", "line 2: answers[0]: Input should be"),
    ],
)
def test_a_bad_file_is_one_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "calibration.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SkillmixError) as caught:
        load_calibration_set(path, CATALOG)
    assert str(caught.value).startswith(f"{path}: {message}")
