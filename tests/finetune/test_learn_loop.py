"""The learning-composition loop end to end on CPU (`skillmix learn`): a teacher run on the
split's training part (loopback OpenAI server), its full-mark answers exported, a few steps of
real TRL training of the bundled SmolLM2-135M with the loss falling, the fine-tuned folder
evaluated through `hf/` beside the base model on held-out skills and topics only, and their
paired comparison. A rerun resumes: nothing is trained or called again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from skillmix.api import load_results
from skillmix.catalog import load_catalog
from skillmix.catalog.splits import SplitConfig, held_out_skills, held_out_topics
from skillmix.cli import app
from skillmix.models.provenance import read_provenance
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.paths import BUNDLED_CATALOG
from tests.helpers.runs import count_responses
from tests.helpers.wire_servers import ServerHandle, running_server

pytest.importorskip("trl")
pytestmark = pytest.mark.slow

SPLIT = {"held_out_categories": ["logical", "theory of mind"], "held_out_topic_fraction": 0.3}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    """Teacher and grader: a lenient grader, so that most teacher answers earn full marks."""
    with running_server(pass_rate=1.0) as handle:
        yield handle


def experiment(folder: Path, url: str) -> Path:
    split = folder / "split.yaml"
    split.write_text(yaml.safe_dump(SPLIT), encoding="utf-8")
    teacher = run_config(
        folder / "teacher",
        k=[1, 2, 3],
        items_per_k=8,
        catalog={**BUNDLED_CATALOG, "split": {"file": str(split), "part": "train"}},
        students=[model_entry("openai/teacher-model", name="teacher", base_url=url)],
        grader=model_entry("openai/judge", base_url=url),
    )
    config: dict[str, Any] = {
        "name": "learn",
        "work_dir": str(folder / "learn"),
        "teacher": str(write_config(folder / "teacher.yaml", teacher)),
        "split": str(split),
        "export": {"only": "full_marks", "k": [2, 3]},
        "finetune": {
            "model": "smollm2",
            "max_steps": 4,
            "learning_rate": 1.0e-4,
            "batch_size": 2,
            "max_length": 768,
        },
        "evaluate": {
            "backend": "hf",
            "student": {"params": {"max_tokens": 24}},
            "seed": 1,
            "k": [2, 3],
            "items_per_k": 2,
            "grader": model_entry("openai/judge", base_url=url),
        },
    }
    path = folder / "learn.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_the_loop_trains_evaluates_held_out_and_compares(
    server: ServerHandle, tmp_path: Path
) -> None:
    os.environ.setdefault("OPENAI_API_KEY", "test")
    config = experiment(tmp_path, f"{server.base_url}/v1")
    result = CliRunner().invoke(app, ["learn", str(config), "-q"])
    assert result.exit_code == 0, result.output
    work = tmp_path / "learn"
    # the training data: k = 2, 3 only, on the training part of the split
    split = SplitConfig.model_validate({"file": str(tmp_path / "split.yaml"), "part": "train"})
    catalog = load_catalog(Path(BUNDLED_CATALOG["skills"]), Path(BUNDLED_CATALOG["topics"]))
    skills, topics = held_out_skills(catalog, split), held_out_topics(catalog, split)
    meta = [json.loads(line) for line in (work / "train.meta.jsonl").read_text().splitlines()]
    assert meta and {m["k"] for m in meta} <= {2, 3}
    assert not any(set(m["skills"]) & skills or m["topic"] in topics for m in meta)
    # real training, the loss falling, provenance in the folder
    provenance = read_provenance(work / "model")
    assert provenance is not None and provenance.steps == 4
    losses = provenance.losses
    assert sum(losses[-2:]) / 2 < losses[0], losses
    assert provenance.data.examples == len(meta)
    assert provenance.data.split is not None and provenance.data.split["part"] == "train"
    # the evaluation: both models, held-out skills and topics only, nothing flagged
    results = load_results(work / "eval")
    assert {s.label for s in results.config.students} == {"base", "finetuned"}
    for item in results.items:
        assert set(item.skills) <= skills and item.topic in topics
    text = " ".join(result.output.split())
    assert "finetuned was fine-tuned on data" in text and "none of the 4 items" in text
    assert "base vs finetuned on full_marks" in text
    # a rerun trains nothing and calls nothing again
    calls = count_responses(work / "eval")
    again = CliRunner().invoke(app, ["learn", str(config), "-q"])
    assert again.exit_code == 0, again.output
    assert "already holds this fine-tune" in again.output
    assert count_responses(work / "eval") == calls
    assert read_provenance(work / "model") == provenance
