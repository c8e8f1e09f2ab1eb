"""`skillmix prompts`: every request of a run, as the backend would send it, no model called."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.run.calls import Call, derived_seed
from skillmix.run.plan import build_plan
from skillmix.run.preview import STAND_IN_REPLY
from tests.helpers.configs import model_entry, run_config, write_config

NOWHERE = "http://127.0.0.1:9/v1"  # the discard port: a call would fail the command


def test_every_request_as_the_openai_backend_sends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    student = model_entry(
        "openai/gpt-4o-mini",
        base_url=NOWHERE,
        system_prompt="You are a helpful assistant.",
        params={"max_tokens": 512},
    )
    grader = model_entry("openai/gpt-4o", base_url=NOWHERE, params={"temperature": 0})
    data = run_config(
        tmp_path / "run",
        k=[2],
        items_per_k=3,
        generations=2,
        gradings=3,
        students=[student],
        grader=grader,
    )
    config = write_config(tmp_path / "c.yaml", data)
    out = tmp_path / "requests.jsonl"
    result = CliRunner().invoke(app, ["prompts", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    turn1 = [r for r in rows if r["slot"] == "turn1"]
    turn2 = [r for r in rows if r["slot"] == "turn2"]
    graded = [r for r in rows if r["slot"].startswith("grade:")]
    assert (len(turn1), len(turn2), len(graded)) == (3 * 2, 3 * 2, 3 * 2 * 3)
    plan = build_plan(data)
    first = turn1[0]
    item = next(i for i in plan.items if i.item_id == first["item_id"])
    assert first["body"]["seed"] == derived_seed(0, Call(item, first["gen"], "turn1"))
    assert first["body"]["model"] == "gpt-4o-mini" and first["body"]["max_tokens"] == 512
    messages = first["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert item.topic in messages[1]["content"] and not first["stand_in"]
    assert turn2[0]["body"]["messages"][2] == {"role": "assistant", "content": STAND_IN_REPLY}
    schema = graded[0]["body"]["response_format"]["json_schema"]["schema"]
    assert len(schema["properties"]) == 2 + 3 and graded[0]["stand_in"]
    assert not (tmp_path / "run").exists()  # nothing was run or stored
