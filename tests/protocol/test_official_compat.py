"""Our parser and sentence rule agree with the official repository's own graded records."""

from __future__ import annotations

import re
from pathlib import Path

from skillmix.protocol.replies import parse_reply
from skillmix.protocol.rubric import build_rubric
from skillmix.protocol.sentences import count_sentences_official
from tests.helpers.official import official_skills, read_records

ANSWER = re.compile(r'The student\'s answer was: "(.*)"\n\nFor reference', re.S)


def graded_rows(reference_dir: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted(reference_dir.glob("*/test/*/*/graded/*/records.csv")):
        rows.extend(read_records(path))
    assert rows, "no graded records found in the reference folder"
    return rows


def test_table_replies_parse_to_the_official_points(reference_dir: Path) -> None:
    compared = 0
    for row in graded_rows(reference_dir):
        rubric = build_rubric(official_skills(row["skills"]), row["topic"])
        official = [int(float(v)) for v in row["points_0"].split(",")] if row["points_0"] else []
        if len(official) != len(rubric):  # the official parser lost rows here: nothing to compare
            continue
        points = parse_reply(row["assistant_0"], rubric)
        for item, want in zip(rubric, official, strict=True):
            if item.key in points:
                assert points[item.key] == want, (item.text, row["assistant_0"][:200])
        compared += 1
    assert compared >= 500


def test_sentence_counts_match_the_official_counts(reference_dir: Path) -> None:
    compared = 0
    for row in graded_rows(reference_dir):
        match = ANSWER.search(row["user_0"])
        if match is None or not match.group(1).strip():
            continue
        assert count_sentences_official(match.group(1)) == int(
            row["num_sentences_manual_in_student_answer_0"]
        ), match.group(1)
        compared += 1
    assert compared >= 500
