"""A ConceptMix writer that misbehaves (scripted/<name>, in this process): a plan that is not
JSON is redrawn, a writer call that fails for good is recorded against its item, and the same
command later writes that item, asking none of its stored calls again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.errors import BackendError
from skillmix.models import ModelRequest
from skillmix.models.scripted import scripted
from tests.helpers import concept_writer
from tests.helpers.configs import write_config
from tests.helpers.paths import ROOT
from tests.helpers.runs import stored
from tests.helpers.wire_servers import ServerHandle, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as handle:
        yield handle


def config_for(run_dir: Path, server: ServerHandle) -> dict[str, Any]:
    url = f"{server.base_url}/v1"
    return {
        "name": "faults",
        "suite": "conceptmix",
        "output_dir": str(run_dir),
        "concepts": str(ROOT / "data" / "concepts.yaml"),
        "items": {"generate": {"writer": {"model": "scripted/writer"}}},
        "k": [2],
        "items_per_k": 1,
        "seed": 4,
        "models": [
            {"model": "openai-images/gpt-image-1", "base_url": url, "options": {"size": "64x64"}}
        ],
        "grader": {"model": "openai/gpt-4o", "base_url": url},
    }


def step(request: ModelRequest) -> str | None:
    users = [m for m in request.messages if m["role"] == "user"]
    content = users[-1]["content"]
    return concept_writer.step_of(content if isinstance(content, str) else "")


class Writer:
    """The loopback writer's replies, except for the steps told to misbehave."""

    def __init__(self, faults: dict[str, list[str | Exception]] | None = None):
        self.faults = faults or {}
        self.asked: Counter[str | None] = Counter()

    def __call__(self, request: ModelRequest) -> str | Exception:
        name = step(request)
        self.asked[name] += 1
        queued = self.faults.get(name or "", [])
        if queued:
            return queued.pop(0)
        messages = [{"role": m["role"], "content": m["content"]} for m in request.messages]
        return concept_writer.reply(messages)


def evaluate(config: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(config), "--quiet"])
    assert result.exit_code == 0, result.output


def writing(run_dir: Path) -> tuple[Any, ...]:
    (row,) = stored(run_dir, "SELECT status, attempts, reason FROM concept_writing")
    return row


def test_a_plan_that_is_not_json_is_redrawn(
    server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    config = write_config(tmp_path / "run.yaml", config_for(tmp_path / "run", server))
    writer = Writer({"binding_json": ["The objects are a cat and a dog."]})
    with scripted("writer", writer):
        evaluate(config)
    assert writing(tmp_path / "run") == ("ok", 2, None)
    assert writer.asked["binding"] == 2 and writer.asked["caption"] == 1
    assert stored(tmp_path / "run", "SELECT COUNT(*) FROM images") == [(1,)]


def test_a_failed_writer_call_is_recorded_then_retried_by_the_same_command(
    server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "run.yaml", config_for(run_dir, server))
    with scripted("writer", Writer({"caption": [BackendError("the writer is down")]})):
        evaluate(config)
    status, attempts, reason = writing(run_dir)
    assert (status, attempts) == ("failed", 1) and "the writer is down" in reason
    assert stored(run_dir, "SELECT COUNT(*) FROM concept_items") == [(0,)]
    assert stored(run_dir, "SELECT COUNT(*) FROM images") == [(0,)]
    report = CliRunner().invoke(app, ["report", str(run_dir)])
    assert "1 failed" in " ".join(report.stdout.split())
    again = Writer()
    with scripted("writer", again):
        evaluate(config)
    assert writing(run_dir) == ("ok", 1, None)
    assert again.asked["binding"] == again.asked["binding_json"] == 0  # stored, not asked
    assert again.asked["caption"] == 1
    assert stored(run_dir, "SELECT COUNT(*) FROM images") == [(1,)]
