"""The ConceptMix concept catalog: ours validates, the official config imports onto the same
values, broken files are refused with file and field, and the CLI reads and writes both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.catalog.concepts import ConceptCatalog, load_concepts, write_concepts_yaml
from skillmix.catalog.official_concepts import read_official_concepts
from skillmix.cli import app
from skillmix.errors import SkillmixError
from skillmix.records import Concept
from tests.helpers.paths import FIXTURES, ROOT, SHARED_REFERENCE

OURS = ROOT / "data" / "concepts.yaml"
OFFICIAL_CONFIG = SHARED_REFERENCE / "conceptmix" / "config"
FIXTURE_CONFIG = FIXTURES / "conceptmix" / "config"
SIZES = {
    "object": 52,
    "color": 11,
    "number": 3,
    "shape": 5,
    "size": 2,
    "texture": 3,
    "style": 15,
    "spatial": 10,
}
runner = CliRunner()


@pytest.fixture(scope="module")
def ours() -> ConceptCatalog:
    return load_concepts(OURS)


def test_shipped_catalog(ours: ConceptCatalog) -> None:
    assert {c.name: len(c.values) for c in ours.categories} == SIZES
    assert ours.value_count == 101
    assert ours.non_object_categories == (
        "color",
        "number",
        "shape",
        "size",
        "spatial",
        "style",
        "texture",
    )
    assert ours.values("number") == ("2", "3", "4")
    assert all(v.statement for v in ours.category("spatial").values)
    assert "orange" in ours.objects and "orange" in ours.values("color")


def test_statements_render(ours: ConceptCatalog) -> None:
    color = ours.statement(Concept(category="color", value="red"), ("cat",))
    assert color == "cat is colored red"
    number = ours.statement(Concept(category="number", value="3"), ("sheep",))
    assert number.startswith("3 sheep ")
    spatial = ours.statement(Concept(category="spatial", value="left"), ("dog", "dog"))
    assert spatial == "dog appears to the left of another dog in the picture"
    with pytest.raises(ValueError, match="takes 2 objects"):
        ours.statement(Concept(category="spatial", value="left"), ("dog",))
    with pytest.raises(KeyError):
        ours.statement(Concept(category="color", value="teal"), ("cat",))


@pytest.mark.skipif(not OFFICIAL_CONFIG.is_dir(), reason="the official config is not here")
def test_official_config_imports_onto_our_values(ours: ConceptCatalog) -> None:
    official = read_official_concepts(OFFICIAL_CONFIG)
    assert [c.name for c in official.categories] == [c.name for c in ours.categories]
    for category in official.categories:
        assert official.values(category.name) == ours.values(category.name)
    top = official.category("spatial").value("top").statement or ""
    assert top.startswith("{a} is on top of {b}") and "Object" not in top
    assert official.category("object").statement.endswith("{values}.")
    for category in ours.categories:  # our wording is our own
        theirs = official.category(category.name)
        assert category.statement != theirs.statement
        for mine, other in zip(category.values, theirs.values, strict=True):
            assert mine.statement is None or mine.statement != other.statement


def test_fixture_config_imports() -> None:
    catalog = read_official_concepts(FIXTURE_CONFIG)
    assert catalog.values("style") == ("watercolor", "pixel art", "cubism")
    assert catalog.category("spatial").value("left").statement is None
    above = Concept(category="spatial", value="above")
    assert (
        catalog.statement(above, ("kite", "house"))
        == "kite is higher than house and does not touch it"
    )
    thing = Concept(category="object", value="teddy bear")
    assert catalog.statement(thing) == "a picture holding at least one of the teddy bears"


def test_written_yaml_reads_back(tmp_path: Path) -> None:
    catalog = read_official_concepts(FIXTURE_CONFIG)
    write_concepts_yaml(catalog, tmp_path / "concepts.yaml", "config/*.json")
    text = (tmp_path / "concepts.yaml").read_text()
    assert text.startswith("# ConceptMix concept catalog, imported from config/*.json\n")
    again = load_concepts(tmp_path / "concepts.yaml")
    assert again == catalog and again.content_hash == catalog.content_hash


GOOD = {
    "categories": [
        {"name": "object", "statement": "there is a {value}", "values": ["cat", "dog"]},
        {"name": "color", "statement": "{object} is {value}", "values": ["red", "blue"]},
        {"name": "spatial", "statement": "{a} is {value} {b}", "values": ["left"]},
    ]
}


def _broken(path: tuple[str | int, ...], value: object) -> dict[str, object]:
    data = json.loads(json.dumps(GOOD))
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data  # type: ignore[no-any-return]


CATEGORIES = GOOD["categories"]
YAML_CASES: list[tuple[object, str]] = [
    (_broken(("categories", 1, "name"), "flavour"), r"categories\[1\]\.name: unknown category"),
    ({"categories": [*CATEGORIES, CATEGORIES[0]]}, r"categories\[3\]\.name: duplicate category"),
    (_broken(("categories", 0, "values", 1), "Cat"), r"categories\[0\]\.values\[1\]\.name: dup"),
    (_broken(("categories", 0, "values", 1), " "), r"categories\[0\]\.values\[1\]\.name: must not"),
    (_broken(("categories", 0, "values"), []), r"categories\[0\]\.values: no values"),
    (
        _broken(("categories", 1, "statement"), "{a} is {value}"),
        r"categories\[1\]\.statement: unknown placeholder \{a\} for color",
    ),
    (
        _broken(("categories", 1, "statement"), "{object} is {value!r}"),
        r"categories\[1\]\.statement: placeholder \{value\} must be plain",
    ),
    (
        _broken(("categories", 1, "statement"), "{object} is {value"),
        r"categories\[1\]\.statement: malformed placeholder",
    ),
    (
        _broken(("categories", 1, "statement"), "{object} is colored"),
        r"categories\[1\]\.statement: a category statement needs \{value\}",
    ),
    (
        _broken(("categories", 2, "values", 0), {"name": "left", "statement": "{a} is left"}),
        r"categories\[2\]\.values\[0\]\.statement: a spatial statement needs both \{a\} and \{b\}",
    ),
    (_broken(("categories", 0, "colour"), "red"), r"categories\[0\]\.colour: unknown key"),
    (
        _broken(("categories", 1, "values", 0), {"name": "red", "text": "x"}),
        r"categories\[1\]\.values\[0\]\.text: unknown key",
    ),
    ({"categories": CATEGORIES[1:]}, r"categories: no 'object' category"),
    ({"concepts": []}, r"categories: expected a top-level 'categories:' list"),
]


def test_the_unbroken_file_loads(tmp_path: Path) -> None:
    (tmp_path / "concepts.yaml").write_text(json.dumps(GOOD))
    assert load_concepts(tmp_path / "concepts.yaml").value_count == 5


@pytest.mark.parametrize(("data", "pattern"), YAML_CASES)
def test_broken_concept_files_name_file_and_field(
    tmp_path: Path, data: object, pattern: str
) -> None:
    path = tmp_path / "concepts.yaml"
    path.write_text(json.dumps(data, indent=2))  # JSON is YAML
    with pytest.raises(SkillmixError, match=rf"concepts\.yaml: (line \d+: )?{pattern}") as caught:
        load_concepts(path)
    assert "\n" not in str(caught.value)


def test_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "concepts.yaml"
    path.write_text(json.dumps(_broken(("categories", 0, "values", 1), "Cat"), indent=2))
    with pytest.raises(SkillmixError, match=r"line 8: categories\[0\]\.values\[1\]\.name"):
        load_concepts(path)


def _config(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    for source in FIXTURE_CONFIG.glob("*.json"):
        (folder / source.name).write_text(source.read_text())
    (folder / name).write_text(text)


def _official(category: str, description: str, skill: object) -> str:
    return json.dumps({"category": category, "description": description, "skill": skill})


OFFICIAL_CASES: list[tuple[str, str, str]] = [
    (
        "color.json",
        '{\n  "category": "color",\n  "skill": {,}\n}',
        r"color\.json: line 3: malformed",
    ),
    (
        "color.json",
        json.dumps({"description": "{object} is {skill}", "skill": {}}),
        r"color\.json: category: required",
    ),
    (
        "color.json",
        json.dumps({"category": "color", "description": "x {skill}"}),
        r"color\.json: skill: required",
    ),
    (
        "color.json",
        _official("color", "{object} is {skill}", {"red": 1}),
        r"color\.json: skill\.red: must be a string",
    ),
    (
        "color.json",
        _official("colour", "{object} is {skill}", {"red": ""}),
        r"color\.json: category: unknown category",
    ),
    (
        "color.json",
        _official("color", "{ObjectA} is {skill}", {"red": ""}),
        r"description: unknown placeholder \{ObjectA\}",
    ),
    (
        "extra.json",
        _official("color", "{object} is {skill}", {"red": ""}),
        r"extra\.json: category: duplicate category",
    ),
    (
        "spatial.json",
        _official("spatial", "{ObjectA} is {skill} {ObjectB}", {"on": "{ObjectA} is on it"}),
        r"skill\.on: a spatial statement needs both",
    ),
    ("color.json", '["red"]', r"color\.json: expected a JSON object"),
]


@pytest.mark.parametrize(("name", "text", "pattern"), OFFICIAL_CASES)
def test_broken_official_config_names_file_and_field(
    tmp_path: Path, name: str, text: str, pattern: str
) -> None:
    _config(tmp_path / "config", name, text)
    with pytest.raises(SkillmixError, match=pattern) as caught:
        read_official_concepts(tmp_path / "config")
    assert "\n" not in str(caught.value)


def test_official_config_folder_problems(tmp_path: Path) -> None:
    with pytest.raises(SkillmixError, match=r"nowhere: folder not found"):
        read_official_concepts(tmp_path / "nowhere")
    with pytest.raises(SkillmixError, match=r"no \.json files"):
        read_official_concepts(tmp_path)
    (tmp_path / "color.json").write_text(_official("color", "{object} is {skill}", {"red": ""}))
    with pytest.raises(SkillmixError, match=r"no file of category 'object'"):
        read_official_concepts(tmp_path)


def test_cli_imports_and_validates_concepts(tmp_path: Path) -> None:
    out = tmp_path / "concepts.yaml"
    result = runner.invoke(
        app, ["catalog", "import-concepts", str(FIXTURE_CONFIG), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "8 categories, 22 values" in result.stdout
    assert load_concepts(out) == read_official_concepts(FIXTURE_CONFIG)
    result = runner.invoke(app, ["catalog", "validate", str(out), str(OURS)])
    assert result.exit_code == 0, result.output
    assert f"{out}: 8 categories, 22 values OK" in result.stdout
    assert f"{OURS}: 8 categories, 101 values OK" in result.stdout


def test_cli_refuses_bad_concepts_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(_broken(("categories", 1, "name"), "flavour")))
    result = runner.invoke(app, ["catalog", "validate", str(bad)])
    assert result.exit_code == 2
    assert (
        result.stderr.count("\n") == 1 and "categories[1].name: unknown category" in result.stderr
    )
    result = runner.invoke(
        app, ["catalog", "import-concepts", str(tmp_path / "none"), "--out", str(bad)]
    )
    assert result.exit_code == 2 and "none: folder not found" in result.stderr
