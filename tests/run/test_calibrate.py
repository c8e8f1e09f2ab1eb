"""`skillmix calibrate` against a loopback OpenAI grader scripted to make known mistakes: it
passes every topic and fails the sense of every k = 4 answer, and is right everywhere else.
The reported rates equal the ones those mistakes make on the shipped labels."""

from __future__ import annotations

import json
import os
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import ExtraGrader, ModelEntry
from skillmix.protocol.calibration_set import CalibrationAnswer, expected_points
from skillmix.results.calibration import calibration_table, full_marks_agreement
from skillmix.run.calibrate import STUDENT, calibration_plan
from skillmix.run.store import RunStore
from tests.helpers.paths import ROOT
from tests.helpers.wire_servers import messages_digest, running_server

SET = ROOT / "data" / "calibration.yaml"
SKILLS, TOPICS = ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml"


def mistaken(answer: CalibrationAnswer) -> dict[str, int]:
    """The scripted grader's points, by rubric key."""
    points = expected_points(answer) | {"topic": 1}
    return points | {"sense": 0} if answer.k == 4 else points


def replies(tmp_path: Path) -> Path:
    """The scripted grader's reply to each calibration prompt, keyed by its messages."""
    entry = ModelEntry(model="openai/judge", base_url="http://127.0.0.1:9/v1")
    calibration = calibration_plan(
        SET, SKILLS, TOPICS, ExtraGrader(entry=entry, gradings=1), tmp_path
    )
    plan, answers = calibration.plan, calibration.answers
    found = {}
    for item in plan.items:
        rubric = plan.rubric(item)
        messages = plan.grader_messages(item, answers[item.item_id].answer, rubric, True)
        points = mistaken(answers[item.item_id])
        found[messages_digest(messages)] = json.dumps({r.text: points[r.key] for r in rubric})
    path = tmp_path / "replies.json"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found), encoding="utf-8")
    return path


def expected_rates(answers: list[CalibrationAnswer], kind: str) -> tuple[float, float]:
    """(false-pass rate, false-fail rate) of the scripted mistakes on one kind of point."""
    pairs = [
        (label, mistaken(answer)[key])
        for answer in answers
        for key, label in expected_points(answer).items()
        if key.split(":")[0] == kind
    ]
    failing = [verdict for label, verdict in pairs if label == 0]
    passing = [verdict for label, verdict in pairs if label == 1]
    return sum(failing) / len(failing), passing.count(0) / len(passing)


def test_calibrate_reports_the_scripted_mistakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with running_server(replies=replies(tmp_path / "plan")) as server:
        args = ["calibrate", "--grader", "openai/judge", "--base-url", f"{server.base_url}/v1"]
        out = tmp_path / "calibration"
        result = CliRunner().invoke(app, [*args, "--set", str(SET), "--out", str(out), "-q"])
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(app, [*args, "--set", str(SET), "--out", str(out), "-q"])
        assert again.stdout == result.stdout  # resumed from the store: the same report
        assert server.stats()["completed"] == 72  # one call per answer, none asked again
    entry = ModelEntry(model="openai/judge")
    calibration = calibration_plan(SET, SKILLS, TOPICS, ExtraGrader(entry=entry, gradings=1), out)
    answers = list(calibration.answers.values())
    with closing(RunStore.open_for_reading(out)) as store:
        gradings = store.gradings()
    args_ = (calibration.answers, gradings, "openai/judge", 1, STUDENT.label)
    table = calibration_table(*args_).set_index("criterion")
    for kind in ("skill", "topic", "sense", "sentences"):
        false_pass, false_fail = expected_rates(answers, kind)
        assert table.loc[kind, "false_pass_rate"] == pytest.approx(false_pass), kind
        assert table.loc[kind, "false_fail_rate"] == pytest.approx(false_fail), kind
    assert (table.loc["topic", "false_pass_rate"], table.loc["skill", "accuracy"]) == (1.0, 1.0)
    off_topic = sum(a.design == "off topic" and a.k != 4 for a in answers)
    good_k4 = sum(a.design in ("all correct", "subtle but correct") and a.k == 4 for a in answers)
    full = full_marks_agreement(*args_)
    assert (full["false_full_marks"], full["missed_full_marks"]) == (off_topic, good_k4)
    assert f"{full['false_full_marks']} full marks the labels deny" in result.stdout
    assert "openai/judge on the calibration set" in result.stdout
    assert os.path.isdir(out)
