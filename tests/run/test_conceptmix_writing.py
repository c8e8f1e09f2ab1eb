"""A ConceptMix run that writes its own items (items.generate) end to end: seeded draws bound,
captioned, checked and questioned by a loopback writer model (tests/helpers/concept_writer.py,
which turns down every draw with a heart shape), then images and verdicts as for official
items. Every written item is predicted here from the sampler and the writer's rules."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from skillmix.catalog.concepts import ConceptCatalog, load_concepts
from skillmix.cli import app
from skillmix.protocol.conceptmix.official_items import read_official_items
from skillmix.protocol.conceptmix.sampler import ConceptDraw, draw_concepts, draw_rng
from skillmix.records import Concept, ConceptItem
from tests.helpers import concept_writer
from tests.helpers.configs import write_config
from tests.helpers.paths import ROOT
from tests.helpers.runs import kill_after_responses, stored
from tests.helpers.wire_servers import ServerHandle, running_server

CONCEPTS = ROOT / "data" / "concepts.yaml"
KS = (1, 2, 3)
PER_K = 6
SEED = 0  # its draws include hearts: some items are written only at a redraw
VERDICTS = {"red": "No", "metallic": "No"}


@pytest.fixture(scope="module")
def catalog() -> ConceptCatalog:
    return load_concepts(CONCEPTS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    script = tmp_path_factory.mktemp("writer") / "verdicts.json"
    script.write_text(json.dumps(VERDICTS), encoding="utf-8")
    with running_server(latency_ms=20, verdicts=script) as handle:
        yield handle


def config_for(run_dir: Path, server: ServerHandle, **generate: Any) -> dict[str, Any]:
    url = f"{server.base_url}/v1"
    writer = {"model": f"openai/{concept_writer.MODEL}", "base_url": url, "max_concurrency": 4}
    return {
        "name": run_dir.name,
        "suite": "conceptmix",
        "output_dir": str(run_dir),
        "concepts": str(CONCEPTS),
        "items": {"generate": {"writer": writer, **generate}},
        "k": list(KS),
        "items_per_k": PER_K,
        "seed": SEED,
        "models": [
            {"model": "openai-images/gpt-image-1", "base_url": url, "options": {"size": "64x64"}}
        ],
        "grader": {"model": "openai/gpt-4o", "base_url": url},
    }


def evaluate(config: Path, *options: str) -> str:
    result = CliRunner().invoke(app, ["eval", str(config), "--quiet", *options])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def straight(server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("OPENAI_API_KEY", "test")
    folder = tmp_path_factory.mktemp("written")
    evaluate(write_config(folder / "run.yaml", config_for(folder / "run", server)))
    return folder / "run"


def turned_down(draw: ConceptDraw) -> bool:
    return any(c.value == concept_writer.TURN_DOWN for c in draw.drawn)


def predicted(
    catalog: ConceptCatalog, k: int, index: int, attempts: int
) -> tuple[int, ConceptDraw] | None:
    """(the attempt that is written, its draw), or None when every draw is turned down."""
    for attempt in range(attempts):
        draw = draw_concepts(catalog, k, draw_rng(SEED, k, index, attempt))
        if not turned_down(draw):
            return attempt + 1, draw
    return None


def expected_concepts(draw: ConceptDraw) -> list[Concept]:
    """The objects, the placed concepts in draw order, then the relations (the writer binds
    each one; binding adds no object)."""
    objects = [Concept(category="object", value=name) for name in draw.objects]
    return (
        objects
        + [c for c in draw.drawn if c.category != "spatial"]
        + [c for c in draw.drawn if c.category == "spatial"]
    )


def stored_items(run_dir: Path) -> dict[str, ConceptItem]:
    rows = stored(run_dir, "SELECT data FROM concept_items")
    items = [ConceptItem.model_validate_json(data) for (data,) in rows]
    return {item.item_id: item for item in items}


def writings(run_dir: Path) -> dict[str, tuple[Any, ...]]:
    rows = stored(run_dir, "SELECT item_id, status, attempts, reason FROM concept_writing")
    return {row[0]: row[1:] for row in rows}


def test_each_item_is_the_first_draw_the_writer_accepted(
    straight: Path, catalog: ConceptCatalog
) -> None:
    items, records = stored_items(straight), writings(straight)
    assert len(items) == len(records) == len(KS) * PER_K
    redrawn = 0
    for k in KS:
        for index in range(1, PER_K + 1):
            found = predicted(catalog, k, index, 10)
            assert found is not None
            attempts, draw = found
            item = items[f"k{k}-{index:04d}"]
            assert list(item.concepts) == expected_concepts(draw)
            assert len(item.concepts) == k + 1
            assert records[item.item_id] == ("ok", attempts, None)
            redrawn += attempts > 1
    assert redrawn >= 1, "the seed should make the writer turn some draw down"


def test_the_prompt_is_the_checked_caption_and_each_question_has_its_concept(
    straight: Path, catalog: ConceptCatalog
) -> None:
    for item in stored_items(straight).values():
        assert item.source == "generated"
        assert item.prompt.startswith("A picture where ") and "WRONG" not in item.prompt
        assert len(item.questions) == len(item.concepts)
        for question, concept in zip(item.questions, item.concepts, strict=True):
            assert (question.category, question.value) == (concept.category, concept.value)
            assert question.text.startswith("Is it true that ")  # the numbering taken off
            assert question.text.rstrip("?").removeprefix("Is it true that ") in item.prompt
        plan = json.loads(item.plan or "{}")
        relations = plan.get("relation", [])
        assert all(r["ObjectA_id"] == 1 for r in relations)
        assert [c.value for c in item.concepts if c.category == "object"] == [
            o["item"] for o in plan["objects"]
        ]


def test_the_written_items_replay_from_their_files(
    straight: Path, server: ServerHandle, tmp_path: Path, catalog: ConceptCatalog
) -> None:
    folder = straight / "items"
    replayed = read_official_items(folder, list(KS), PER_K, catalog=catalog)
    ours = stored_items(straight)
    for item in replayed:
        kept = ours[item.item_id].model_copy(update={"source": "official", "plan": None})
        assert item == kept
    config = config_for(tmp_path / "replay", server)
    config["items"] = {"official": str(folder)}
    evaluate(write_config(tmp_path / "replay.yaml", config))
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "replay" / "results.csv"), pd.read_csv(straight / "results.csv")
    )
    plans = json.loads((folder / "refined_config_k=2.json").read_text("utf-8"))
    assert [plan["index"] for plan in plans] == list(range(1, PER_K + 1))


def test_a_draw_turned_down_every_time_leaves_its_item_out(
    server: ServerHandle, tmp_path: Path, catalog: ConceptCatalog
) -> None:
    run_dir = tmp_path / "once"
    config = write_config(tmp_path / "once.yaml", config_for(run_dir, server, max_attempts=1))
    evaluate(config)
    records, items = writings(run_dir), stored_items(run_dir)
    left_out = {
        f"k{k}-{i:04d}"
        for k in KS
        for i in range(1, PER_K + 1)
        if predicted(catalog, k, i, 1) is None
    }
    assert left_out, "the seed should turn some first draw down"
    assert {key for key, row in records.items() if row[0] == "rejected"} == left_out
    assert all(records[key][2].startswith("caption: WRONG") for key in left_out)
    assert not left_out & set(items)
    drawn = {item_id for (item_id,) in stored(run_dir, "SELECT item_id FROM images")}
    assert drawn == set(items)
    report = CliRunner().invoke(app, ["report", str(run_dir)])
    assert f"{len(left_out)} turned down at every draw" in " ".join(report.stdout.split())


def test_a_killed_writing_run_resumes_to_the_same_items(
    straight: Path, server: ServerHandle, tmp_path: Path
) -> None:
    run_dir = tmp_path / "killed"
    config = write_config(tmp_path / "run.yaml", config_for(run_dir, server))
    kill_after_responses(config, run_dir, 25)
    kept = {key for (key,) in stored(run_dir, "SELECT key FROM responses")}
    assert len(stored_items(run_dir)) < len(stored_items(straight))  # killed while writing
    evaluate(config)
    calls = dict(stored(run_dir, "SELECT key, COUNT(*) FROM calls GROUP BY key"))
    assert not [key for key in kept if calls[key] != 1], "a stored response was asked again"
    assert stored_items(run_dir) == stored_items(straight)
    assert writings(run_dir) == writings(straight)
    for table in ("images", "verdicts"):
        query = f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4"
        assert stored(run_dir, query) == stored(straight, query)
    pd.testing.assert_frame_equal(
        pd.read_csv(run_dir / "results.csv"), pd.read_csv(straight / "results.csv")
    )


@pytest.mark.parametrize(
    "change",
    [{"quirks": {"questions_from_first_caption": False}}, {"max_attempts": 3}],
)
def test_another_writer_setting_is_another_run(
    straight: Path, server: ServerHandle, tmp_path: Path, change: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "other.yaml", config_for(straight, server, **change))
    before = (straight / "run.sqlite").read_bytes()
    result = CliRunner().invoke(app, ["eval", str(config), "--quiet"])
    assert result.exit_code == 2
    assert "items.generate" in result.stderr and "--new-run" in result.stderr
    assert (straight / "run.sqlite").read_bytes() == before


def test_the_dry_run_counts_five_writer_calls_per_item(
    server: ServerHandle, tmp_path: Path
) -> None:
    run_dir = tmp_path / "dry"
    config = write_config(tmp_path / "dry.yaml", config_for(run_dir, server))
    shown = " ".join(evaluate(config, "--dry-run").split())
    items = len(KS) * PER_K
    assert f"{items} prompts to write" in shown
    assert f"writer │ {5 * items} │" in shown
    assert "First draw (k=1, item 1)" in shown
    assert not run_dir.exists()
