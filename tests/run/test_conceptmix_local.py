"""A ConceptMix run on local models only: a diffusers pipeline (a tiny random SD pipeline
saved to a folder) graded in process by a vision-language model (a tiny random LLaVA), with
P(Yes) from its logits. SIGKILLed mid-run and resumed with the same command, it draws no
stored image and asks no stored question again, and ends with the images (the same bytes),
verdicts and results of an uninterrupted run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("diffusers")

from skillmix.cli import app
from skillmix.protocol.conceptmix.official_items import read_official_items
from skillmix.records import ConceptItem
from tests.helpers.configs import write_config
from tests.helpers.paths import ROOT
from tests.helpers.runs import kill_after_responses, stored
from tests.helpers.tiny_pipelines import save_tiny_sd
from tests.helpers.tiny_vlm import save_tiny_vlm

ITEMS = ROOT / "tests" / "fixtures" / "conceptmix" / "sentence_collection"


@dataclass(frozen=True)
class Models:
    pipeline: Path
    grader: Path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    folder = tmp_path_factory.mktemp("models")
    return Models(save_tiny_sd(folder / "sd"), save_tiny_vlm(folder / "llava"))


def config_for(run_dir: Path, models: Models) -> dict[str, Any]:
    options = {"steps": 2, "size": "32x32", "device": "cpu", "max_batch_size": 4}
    grader = {"model": f"hf/{models.grader}", "name": "tiny-llava", "options": {"device": "cpu"}}
    return {
        "name": run_dir.name,
        "suite": "conceptmix",
        "output_dir": str(run_dir),
        "items": {"official": str(ITEMS)},
        "k": [1, 2, 3],
        "images_per_prompt": 2,
        "seed": 2,
        "models": [
            {"model": f"diffusers/{models.pipeline}", "name": "tiny-sd", "options": options}
        ],
        "grader": grader,
        "grading": {"logprobs": True},
    }


def fixture_items() -> list[ConceptItem]:
    return read_official_items(ITEMS, [1, 2, 3], None)


def images(run_dir: Path) -> list[tuple[Any, ...]]:
    return stored(run_dir, "SELECT item_id, image, status, sha256 FROM images ORDER BY 1, 2")


def verdicts(run_dir: Path) -> list[tuple[Any, ...]]:
    query = "SELECT item_id, image, question, status, reply, p_yes FROM verdicts ORDER BY 1, 2, 3"
    return stored(run_dir, query)


def evaluate(config: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(config), "--quiet"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def straight(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("straight")
    evaluate(write_config(folder / "run.yaml", config_for(folder / "run", models)))
    return folder / "run"


def test_every_prompt_gets_its_images_and_every_question_its_verdict(straight: Path) -> None:
    drawn = images(straight)
    assert len(drawn) == 12 * 2 and {row[2] for row in drawn} == {"ok"}
    assert len({row[3] for row in drawn}) == len(drawn)  # every seed its own picture
    assert stored(straight, "SELECT DISTINCT width, height FROM images") == [(32, 32)]
    keys = [key for (key,) in stored(straight, "SELECT response_key FROM images")]
    settings = [
        json.loads(request)["settings"]
        for key, request in stored(straight, "SELECT key, request FROM responses")
        if key in keys
    ]
    assert len(settings) == len(keys)  # each image's effective settings, with the image
    assert {(s["steps"], s["guidance"], s["diffusers"]) for s in settings} == {
        (2, 7.5, version("diffusers"))
    }
    frame = pd.read_csv(straight / "results.csv")
    assert list(frame["model"].unique()) == ["tiny-sd"] and list(frame["images"]) == [8, 8, 8]
    found = verdicts(straight)
    assert len(found) == 2 * sum(len(item.questions) for item in fixture_items())
    for *_, status, reply, p_yes in found:
        assert reply in ("Yes", "No")  # the tiny grader's first token (tests/helpers/tiny_vlm.py)
        assert status == ("yes" if "Yes" in reply else "no")  # the official rule
        assert p_yes is not None and 0 <= p_yes <= 1  # read from its logits


def test_a_killed_run_resumes_to_the_same_images_and_verdicts(
    straight: Path, models: Models, tmp_path: Path
) -> None:
    run_dir = tmp_path / "killed"
    config = write_config(tmp_path / "run.yaml", config_for(run_dir, models))
    kill_after_responses(config, run_dir, 6, table="images")
    kept = {key for (key,) in stored(run_dir, "SELECT key FROM responses")}
    assert 6 <= len(images(run_dir)) < 24
    evaluate(config)
    calls = dict(stored(run_dir, "SELECT key, COUNT(*) FROM calls GROUP BY key"))
    assert not [key for key in kept if calls[key] != 1], "a stored call was made again"
    assert images(run_dir) == images(straight)  # the same bytes, whatever the batches were
    resumed, uninterrupted = verdicts(run_dir), verdicts(straight)
    assert [row[:5] for row in resumed] == [row[:5] for row in uninterrupted]
    assert [row[5] for row in resumed] == pytest.approx([row[5] for row in uninterrupted], abs=1e-5)
    pd.testing.assert_frame_equal(
        pd.read_csv(run_dir / "results.csv"), pd.read_csv(straight / "results.csv")
    )
