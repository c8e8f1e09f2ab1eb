"""Items files: JSONL or CSV rows of skills and a topic, read as a run's items (or written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from skillmix.catalog import load_catalog
from skillmix.errors import SkillmixError
from skillmix.protocol.item_files import read_items, split_skills, write_items
from skillmix.protocol.sampler import CommonSkills, sample_items
from skillmix.records import Item
from tests.helpers.paths import ROOT

CATALOG = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")
SCORING = CommonSkills.SCORING


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read(path: Path, ks: list[int], items_per_k: int, common: CommonSkills = SCORING) -> list[Item]:
    return read_items(path, CATALOG, ks=ks, items_per_k=items_per_k, common=common)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_written_items_read_back_equal(tmp_path: Path, suffix: str) -> None:
    items = sample_items(CATALOG, seed=4, ks=[1, 3], items_per_k=6, common=SCORING)
    path = tmp_path / f"items{suffix}"
    write_items(items, path)
    assert read(path, [1, 3], 6) == items


def test_csv_rows_carry_id_k_skills_and_topic(tmp_path: Path) -> None:
    items = sample_items(CATALOG, seed=0, ks=[2], items_per_k=1, common=SCORING)
    write_items(items, tmp_path / "items.csv")
    with (tmp_path / "items.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row == {
        "item_id": "k2-00000",
        "k": "2",
        "skills": ", ".join(items[0].skills),
        "topic": items[0].topic,
    }


def test_names_match_loosely_and_items_hold_the_catalog_text(tmp_path: Path) -> None:
    rows = [{"skills": ["  GAMBLER’S   fallacy", "Metaphor"], "topic": "the ottoman empire"}]
    (item,) = read(write_jsonl(tmp_path / "items.jsonl", rows), [2], 1)
    assert item.skills == ("gambler's fallacy", "metaphor")
    assert item.topic == "The Ottoman Empire"
    assert item.has_common_skill  # metaphor is a common skill
    assert (item.item_id, item.k, item.index) == ("k2-00000", 2, 0)


ROWS: list[dict[str, Any]] = [
    {"skills": ["red herring"], "topic": "Sewing"},
    {"skills": ["straw man", "tu quoque"], "topic": "Dueling", "k": 2},
    {"skills": ["ad hominem"], "topic": "Urbanism", "note": "ignored"},
    {"skills": ["false dilemma", "begging the question"], "topic": "Knots"},
    {"skills": ["slippery slope"], "topic": "Beekeeping"},
]


def test_indexes_count_per_k_in_file_order_grouped_as_the_config_lists_k(tmp_path: Path) -> None:
    items = read(write_jsonl(tmp_path / "items.jsonl", ROWS), [2, 1], 2)
    assert [(i.item_id, i.index, i.skills[0], i.topic) for i in items] == [
        ("k2-00000", 0, "straw man", "Dueling"),
        ("k2-00001", 1, "false dilemma", "Knots"),
        ("k1-00000", 0, "red herring", "Sewing"),
        ("k1-00001", 1, "ad hominem", "Urbanism"),
    ]


def test_rows_beyond_items_per_k_are_left_out(tmp_path: Path) -> None:
    items = read(write_jsonl(tmp_path / "items.jsonl", ROWS), [1, 2], 1)
    assert [(i.item_id, i.topic) for i in items] == [
        ("k1-00000", "Sewing"),
        ("k2-00000", "Dueling"),
    ]


def test_an_export_replays_its_item_lines_only(tmp_path: Path) -> None:
    items = sample_items(CATALOG, seed=2, ks=[2], items_per_k=3, common=SCORING)
    lines: list[dict[str, Any]] = [{"table": "config", "k": [2], "items_per_k": 3}]
    lines += [{"table": "item", **item.model_dump(mode="json")} for item in items]
    lines += [{"table": "generation", "student": "s", "item_id": "k2-00000", "gen": 0}]
    path = write_jsonl(tmp_path / "export.jsonl", lines)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n   \n")
    assert read(path, [2], 3) == items


def test_fewer_rows_than_items_per_k_names_the_k_and_both_counts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", [{"skills": ["red herring"], "topic": "Sewing"}])
    with pytest.raises(SkillmixError) as caught:
        read(path, [1], 4)
    assert str(caught.value) == f"{path}: items_per_k is 4 but the file has 1 with k=1"


def test_a_common_skill_is_refused_only_when_sampling_excludes_it(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", [{"skills": ["simile"], "topic": "Sewing"}])
    assert read(path, [1], 1, CommonSkills.KEEP)[0].has_common_skill
    with pytest.raises(SkillmixError, match="line 1: 'simile' is a common skill"):
        read(path, [1], 1, CommonSkills.SAMPLING)


def test_a_skill_name_with_a_comma_is_not_written_as_csv(tmp_path: Path) -> None:
    item = Item(
        item_id="k1-00000", k=1, index=0, skills=("a, b",), topic="Sewing", has_common_skill=False
    )
    with pytest.raises(SkillmixError, match="holds a comma"):
        write_items([item], tmp_path / "items.csv")
    assert not (tmp_path / "items.csv").exists()


@pytest.mark.parametrize(
    ("cell", "names"),
    [
        ("a, b, c", ("a", "b", "c")),
        ("a, \nb (x ), \nc", ("a", "b (x )", "c")),
        ("a,\r\nb, c,\nd", ("a", "b, c", "d")),
        (" a ,, b ,", ("a", "b")),
        ("", ()),
    ],
)
def test_skills_cells_split_like_the_official_records(cell: str, names: tuple[str, ...]) -> None:
    assert split_skills(cell) == names


def test_an_official_records_csv_is_an_items_file(reference_dir: Path) -> None:
    official = reference_dir / "skill-mix-official"
    catalog = load_catalog(official / "skills.csv", official / "topics.txt")
    records = official / "test" / "k3_s10_vdefault_r3" / "gpt-4" / "records.csv"
    items = read_items(records, catalog, ks=[3], items_per_k=5, common=SCORING)
    with records.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [i.skills for i in items] == [tuple(row["skills"].split(", \n")) for row in rows]
    assert [i.topic for i in items] == [row["topic"] for row in rows]
    assert "complex question (loaded question with implicit assumption )" in items[0].skills
