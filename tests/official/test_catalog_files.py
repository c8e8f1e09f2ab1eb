"""Official skills.csv / topics.txt import and export, splits, and catalog stats."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.catalog import Catalog, load_catalog, load_skills, load_topics
from skillmix.catalog.official_files import (
    matching_form,
    read_official_skills,
    read_official_topics,
)
from skillmix.catalog.splits import SplitConfig, SplitPart, apply_split
from skillmix.cli import app
from skillmix.errors import SkillmixError
from tests.helpers.configs import run_config
from tests.helpers.paths import FIXTURES, ROOT

runner = CliRunner()
OFFICIAL = FIXTURES / "official_format"


def test_reads_official_csv_dropping_unfinished_rows() -> None:
    skills = {s.name: s for s in read_official_skills(OFFICIAL / "skills.csv")}
    assert set(skills) == {
        "simile",
        "straw man",
        "modus tollens",
        "false belief ( theory of mind )",
        "hindsight bias",
        "buoyancy",
    }  # remove / in review / maybe rows dropped; names as written, but for outer spaces
    assert skills["simile"].definition == "A comparison that uses “like” or “as”."  # curly kept
    assert skills["straw man"].example.endswith('"So you want the library to close?"')
    assert skills["false belief ( theory of mind )"].category == "theory of mind"
    assert skills["hindsight bias"].category == "logical"  # official "reasoning"
    assert [t.name for t in read_official_topics(OFFICIAL / "topics.txt")] == [
        "Sewing",
        "Lighthouse keeping",
        "The Silk Road",
        "Falconry",
    ]


def round_trip(skills_csv: Path, topics_txt: Path, tmp_path: Path) -> None:
    imported = runner.invoke(
        app, ["catalog", "import", str(skills_csv), str(topics_txt), "--out", str(tmp_path / "a")]
    )
    assert imported.exit_code == 0, imported.output
    first = load_catalog(tmp_path / "a" / "skills.yaml", tmp_path / "a" / "topics.yaml")
    exported = runner.invoke(
        app,
        [
            "catalog",
            "export",
            "--skills",
            str(tmp_path / "a" / "skills.yaml"),
            "--topics",
            str(tmp_path / "a" / "topics.yaml"),
            "--out",
            str(tmp_path / "csv"),
        ],
    )
    assert exported.exit_code == 0, exported.output
    again = runner.invoke(
        app,
        [
            "catalog",
            "import",
            str(tmp_path / "csv" / "skills.csv"),
            str(tmp_path / "csv" / "topics.txt"),
            "--out",
            str(tmp_path / "b"),
        ],
    )
    assert again.exit_code == 0, again.output
    second = load_catalog(tmp_path / "b" / "skills.yaml", tmp_path / "b" / "topics.yaml")
    assert first == second and len(first.skills) > 0


def test_import_export_import_round_trips_fixture(tmp_path: Path) -> None:
    round_trip(OFFICIAL / "skills.csv", OFFICIAL / "topics.txt", tmp_path)


def test_import_export_import_round_trips_official_release(
    reference_dir: Path, tmp_path: Path
) -> None:
    official = reference_dir / "skill-mix-official"
    round_trip(official / "skills.csv", official / "topics.txt", tmp_path)
    names = {matching_form(s.name) for s in load_skills(tmp_path / "a" / "skills.yaml")}
    shipped = {matching_form(s.name) for s in load_skills(ROOT / "data" / "skills.yaml")}
    assert len(names) == 10 and names <= shipped  # our catalog holds the public ten by name


def test_validate_names_odd_text_and_keeps_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["catalog", "validate", str(OFFICIAL / "skills.csv")])
    assert result.exit_code == 0, result.output
    [warning] = result.stderr.splitlines()
    assert warning.startswith(f"warning: {OFFICIAL / 'skills.csv'}: ")
    assert "simile (definition has curly quotes; example has curly quotes)" in warning
    assert "false belief ( theory of mind ) (name has odd spacing)" in warning
    assert "straw man" not in warning  # nothing odd about it
    files = [str(OFFICIAL / "skills.csv"), str(OFFICIAL / "topics.txt")]
    imported = runner.invoke(app, ["catalog", "import", *files, "--out", str(tmp_path)])
    assert imported.exit_code == 0, imported.output
    kept = {s.name: s for s in load_skills(tmp_path / "skills.yaml")}
    assert kept["simile"].definition == "A comparison that uses “like” or “as”."


def test_import_reports_the_csv_line_of_a_bad_row(tmp_path: Path) -> None:
    bad = tmp_path / "skills.csv"
    bad.write_text(
        "category,skill,definition,example,comments,status,added by\n"
        "literary,simile,Like or as.,She ran like wind.,,,\n"
        "literary,metaphor,,Time is a thief.,,,\n"
    )
    with pytest.raises(SkillmixError, match=r"skills\.csv: line 3 \(metaphor\)\.definition"):
        read_official_skills(bad)
    result = runner.invoke(app, ["catalog", "validate", str(bad)])
    assert result.exit_code == 2 and "line 3" in result.stderr


def test_example_must_not_repeat_definition_and_lengths_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "skills.yaml"
    path.write_text(
        "skills:\n  - {name: x, category: literary, definition: Same text., example: same text}\n"
    )
    with pytest.raises(SkillmixError, match="example: must illustrate the skill"):
        load_skills(path)
    path.write_text(
        f"skills:\n  - {{name: x, category: literary, definition: {'d' * 700}, example: e}}\n"
    )
    with pytest.raises(SkillmixError, match="definition: is 700 characters long"):
        load_skills(path)


CATALOG = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")


def test_public_private_split_is_seeded_disjoint_and_ten_percent() -> None:
    public = apply_split(CATALOG, SplitConfig(part=SplitPart.PUBLIC))
    private = apply_split(CATALOG, SplitConfig(part=SplitPart.PRIVATE))
    assert len(public.skills) == 10 and len(public.topics) == 10
    assert not {s.name for s in public.skills} & {s.name for s in private.skills}
    assert len(public.skills) + len(private.skills) == len(CATALOG.skills)
    assert apply_split(CATALOG, SplitConfig(part=SplitPart.PUBLIC)) == public
    other = apply_split(CATALOG, SplitConfig(part=SplitPart.PUBLIC, seed=1))
    assert {s.name for s in other.skills} != {s.name for s in public.skills}


def test_train_held_out_split_by_category() -> None:
    categories = ["theory of mind", "pragmatics"]
    held = apply_split(
        CATALOG, SplitConfig(part=SplitPart.HELD_OUT, held_out_categories=categories)
    )
    train = apply_split(CATALOG, SplitConfig(part=SplitPart.TRAIN, held_out_categories=categories))
    assert {s.category for s in held.skills} == {"theory of mind", "pragmatics"}
    assert not {s.category for s in train.skills} & {"theory of mind", "pragmatics"}
    assert len(held.skills) + len(train.skills) == len(CATALOG.skills)
    with pytest.raises(ValueError, match="unknown categories"):
        SplitConfig(part=SplitPart.HELD_OUT, held_out_categories=["cooking"])


def test_config_selects_a_split(tmp_path: Path) -> None:
    from skillmix.run.plan import build_plan

    data = run_config(tmp_path, k=[2], items_per_k=20)
    data["catalog"]["split"] = {"part": "public"}
    plan = build_plan(data)
    public = apply_split(CATALOG, SplitConfig(part=SplitPart.PUBLIC))
    names = {s.name for s in public.skills}
    assert all(set(item.skills) <= names for item in plan.items)
    assert isinstance(plan.catalog, Catalog) and plan.catalog == public


def test_stats_counts_categories_and_possible_items() -> None:
    result = runner.invoke(
        app,
        [
            "catalog",
            "stats",
            "--skills",
            str(ROOT / "data" / "skills.yaml"),
            "--topics",
            str(ROOT / "data" / "topics.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "7,920,874,500" in result.stdout  # C(101, 5) * 100, the paper's figure
    assert "101 skills" in result.stdout and "theory of mind" in result.stdout
    assert load_topics(ROOT / "data" / "topics.yaml")
