"""What a ConceptMix dry run says a run costs: image calls at their size's and quality's token
bound and the shipped gpt-image prices, one grading call per question and image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import validated
from skillmix.config.conceptmix import ConceptMixConfig
from skillmix.models.openai_images import image_tokens
from skillmix.run.conceptmix.estimate import estimate_conceptmix
from skillmix.run.conceptmix.plan import conceptmix_plan
from tests.helpers.configs import write_config
from tests.helpers.paths import ROOT
from tests.helpers.runs import stored
from tests.helpers.wire_servers import running_server

ITEMS = ROOT / "tests" / "fixtures" / "conceptmix" / "sentence_collection"
GPT_IMAGE_1_OUTPUT = 40.00  # dollars per million image tokens (prices.yaml)


def config(tmp_path: Path, quality: str | None, size: str, **more: Any) -> dict[str, Any]:
    options = {"size": size} | ({} if quality is None else {"quality": quality})
    return {
        "name": "estimate",
        "suite": "conceptmix",
        "output_dir": str(tmp_path / "run"),
        "items": {"official": str(ITEMS)},
        "k": [1, 2, 3],
        "models": [
            {
                "model": "openai-images/gpt-image-1",
                "base_url": "http://127.0.0.1:9/v1",
                "options": options,
            }
        ],
        "grader": {"model": "openai/gpt-4o", "base_url": "http://127.0.0.1:9/v1"},
        **more,
    }


def fixture_counts() -> tuple[int, int]:
    prompts = questions = 0
    for k in (1, 2, 3):
        entries = json.loads((ITEMS / f"300_sentences_k={k}.json").read_text("utf-8"))
        prompts += len(entries)
        questions += sum(1 for e in entries for q in e["question"] if q.strip())
    return prompts, questions


@pytest.mark.parametrize(
    ("quality", "size", "tokens"),
    [
        ("low", "1024x1024", 272),
        ("high", "1024x1024", 4160),
        ("high", "1536x1024", 6240),
        (None, "1024x1024", 4160),
        ("medium", "512x512", 264),
    ],
)
def test_image_tokens_follow_size_and_quality(quality: str | None, size: str, tokens: int) -> None:
    width, height = (int(side) for side in size.split("x"))
    assert image_tokens((width, height), quality) == tokens


@pytest.mark.parametrize("images_per_prompt", [1, 3])
def test_estimate_counts_every_image_and_question(tmp_path: Path, images_per_prompt: int) -> None:
    raw = config(tmp_path, "low", "1024x1024", images_per_prompt=images_per_prompt)
    source = tmp_path / "cm.yaml"
    plan = conceptmix_plan(validated(ConceptMixConfig, raw, source), source)
    images, grader = estimate_conceptmix(plan)
    prompts, questions = fixture_counts()
    assert images.calls == prompts * images_per_prompt
    assert images.output_tokens == 272 * images.calls
    assert images.cost_usd is not None
    assert images.cost_usd >= images.output_tokens * GPT_IMAGE_1_OUTPUT / 1e6
    assert grader.calls == questions * images_per_prompt
    assert grader.output_tokens == grader.calls  # one token per verdict
    assert not (tmp_path / "run").exists()


def test_dry_run_prints_the_cost_and_touches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    write_config(path, config(tmp_path, "high", "1024x1024", budget_usd=5))
    result = CliRunner().invoke(app, ["eval", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    prompts, _ = fixture_counts()
    assert f"{prompts * 4160:,}" in result.stdout  # the image output tokens
    assert "estimated cost: $" in result.stdout and "(budget $5.00)" in result.stdout
    assert not (tmp_path / "run").exists()


def test_a_batch_run_s_grader_is_estimated_at_batch_prices(tmp_path: Path) -> None:
    source = tmp_path / "cm.yaml"
    configs = [config(tmp_path, "low", "1024x1024", **more) for more in ({}, {"batch": True})]
    realtime, batched = (
        estimate_conceptmix(conceptmix_plan(validated(ConceptMixConfig, raw, source), source))
        for raw in configs
    )
    assert batched[0] == realtime[0]  # the images: no batch API
    assert batched[1].role == "grader (batch)" and batched[1].realtime_usd == realtime[1].cost_usd
    assert batched[1].cost_usd == pytest.approx(realtime[1].cost_usd / 2)  # type: ignore[operator]
    write_config(source, config(tmp_path, "low", "1024x1024", batch=True))
    result = CliRunner().invoke(app, ["eval", str(source), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "batch mode: the same calls in realtime would cost $" in result.stdout


@pytest.mark.parametrize(
    ("model", "quality", "size", "each"),
    [
        ("dall-e-3", None, "1024x1024", 0.040),
        ("dall-e-3", "hd", "1024x1792", 0.120),
        ("dall-e-2", None, "512x512", 0.018),
    ],
)
def test_dall_e_is_priced_per_image(
    tmp_path: Path, model: str, quality: str | None, size: str, each: float
) -> None:
    raw = config(tmp_path, quality, size)
    raw["models"][0]["model"] = f"openai-images/{model}"
    source = tmp_path / "cm.yaml"
    images, _ = estimate_conceptmix(
        conceptmix_plan(validated(ConceptMixConfig, raw, source), source)
    )
    prompts, _ = fixture_counts()
    assert images.calls == prompts
    assert images.cost_usd == pytest.approx(prompts * each)


def test_a_size_dall_e_has_no_price_for_is_unknown(tmp_path: Path) -> None:
    raw = config(tmp_path, None, "640x480")
    raw["models"][0]["model"] = "openai-images/dall-e-3"
    source = tmp_path / "cm.yaml"
    images, _ = estimate_conceptmix(
        conceptmix_plan(validated(ConceptMixConfig, raw, source), source)
    )
    assert images.cost_usd is None


def test_a_dall_e_run_records_the_price_of_each_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with running_server() as server:
        url = f"{server.base_url}/v1"
        raw = config(tmp_path, "hd", "1024x1024", items_per_k=1, k=[1])
        raw["models"][0].update(model="openai-images/dall-e-3", base_url=url)
        raw["grader"]["base_url"] = url
        path = write_config(tmp_path / "cm.yaml", raw)
        result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert stored(tmp_path / "run", "SELECT cost_usd FROM images") == [(0.08,)]
