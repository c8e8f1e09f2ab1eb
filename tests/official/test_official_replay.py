"""End to end on the wire: `skillmix eval` with `items:` set to an official run's records.csv,
the official catalog and prompt files, against a loopback OpenAI server that replays the
recorded replies and records what it receives. Every conversation it receives, system prompt
included, is the one the official code sent (`model_input_0`/`_1`, and the graded files')."""

from __future__ import annotations

import ast
import json
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.records import ChatMessage, GradingStatus
from skillmix.run.store import RunStore
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.official import read_records
from tests.helpers.wire_servers import messages_digest, running_server

HELPFUL = "You are a helpful assistant."
ROUND = "skill-mix-official/test/k3_s10_vdefault_r3/gpt-4"


def sent(model_input: str) -> list[ChatMessage]:
    messages: list[ChatMessage] = ast.literal_eval(model_input)
    return messages


def recorded_conversations(folder: Path) -> tuple[list[list[ChatMessage]], dict[str, str]]:
    """Every conversation the official code sent for the round, and the reply it got."""
    replies: dict[str, str] = {}
    conversations = []
    rows = read_records(folder / "records.csv")
    for row in rows:
        for turn in (0, 1):
            conversations.append(sent(row[f"model_input_{turn}"]))
            replies[messages_digest(conversations[-1])] = row[f"assistant_{turn}"]
    for graded in sorted(folder.glob("graded/*/records.csv")):
        for row in read_records(graded):
            conversations.append(sent(row["model_input_0"]))
            replies.setdefault(messages_digest(conversations[-1]), row["assistant_0"])
    return conversations, replies


def test_an_official_round_replayed_sends_what_the_official_code_sent(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    folder, official = reference_dir / ROUND, reference_dir / "skill-mix-official"
    expected, replies = recorded_conversations(folder)
    (tmp_path / "replies.json").write_text(json.dumps(replies), encoding="utf-8")
    received = tmp_path / "received.jsonl"
    with running_server(record=received, replies=tmp_path / "replies.json") as server:
        entry = model_entry("openai/gpt-4", base_url=f"{server.base_url}/v1", system_prompt=HELPFUL)
        data = run_config(
            tmp_path / "run",
            catalog={
                "skills": str(official / "skills.csv"),
                "topics": str(official / "topics.txt"),
            },
            prompts={
                "student": str(official / "prompts" / "generation" / "default.json"),
                "grader": str(official / "prompts" / "grade" / "gpt.json"),
            },
            items=str(folder / "records.csv"),
            k=[3],
            items_per_k=5,
            gradings=3,
            students=[entry],
            grader=entry,
            structured_grading=False,
            answer_extraction="official",
        )
        result = CliRunner().invoke(app, ["eval", str(write_config(tmp_path / "c.yaml", data))])
    assert result.exit_code == 0, result.output
    bodies = [json.loads(line) for line in received.read_text(encoding="utf-8").splitlines()]
    got = sorted(json.dumps(body["messages"]) for body in bodies)
    assert got == sorted(json.dumps(messages) for messages in expected)
    assert len(got) == 5 * 2 + 5 * 3  # two student turns and three gradings per item
    with closing(RunStore.open_for_reading(tmp_path / "run")) as store:
        gradings = store.gradings()
    assert len(gradings) == 15 and all(g.status is GradingStatus.SCORED for g in gradings)
