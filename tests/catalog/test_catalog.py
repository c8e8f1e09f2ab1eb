"""The shipped catalog validates; broken catalogs are rejected with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.catalog import CATEGORIES, load_catalog, load_skills, load_topics, naming_conflicts
from skillmix.errors import SkillmixError
from tests.helpers.paths import ROOT

OFFICIAL_SKILLS = {
    "self serving bias",
    "accident (fallacy)",
    "red herring",
    "metaphor",
    "spatial reasoning",
    "modus ponens",
    "statistical syllogism",
    "emotional self regulation",
    "folk physics (common knowledge physics)",
    "complex question (loaded question with implicit assumption)",
}
OFFICIAL_TOPICS = {
    "Sewing",
    "Dueling",
    "The Ottoman Empire",
    "Urbanism",
    "Beekeeping",
    "Survivalism",
    "Guerilla warfare",
    "Triathlons",
    "Gardening",
    "Knots",
}


def test_shipped_catalog() -> None:
    catalog = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")
    assert len(catalog.skills) == 101 and len(catalog.topics) == 100
    assert {s.name for s in catalog.skills} >= OFFICIAL_SKILLS
    assert {t.name for t in catalog.topics} >= OFFICIAL_TOPICS
    assert {s.category for s in catalog.skills} <= set(CATEGORIES)
    assert not naming_conflicts(catalog.skills)
    assert 10 <= sum(s.common for s in catalog.skills) <= 25
    for skill in catalog.skills:
        assert skill.base_name not in skill.example.lower(), skill.name


SKILL = (
    "  - name: {name}\n    category: literary\n    definition: {definition}\n"
    "    example: An example.\n"
)


def write_skills(tmp_path: Path, *entries: tuple[str, str]) -> Path:
    path = tmp_path / "skills.yaml"
    body = "".join(SKILL.format(name=n, definition=d) for n, d in entries)
    path.write_text("# header\nskills:\n" + body)
    return path


@pytest.mark.parametrize(
    ("entries", "pattern"),
    [
        (
            (("metaphor", "A figure."), ("Metaphor", "Again.")),
            r"line 7: skills\[1\] \(Metaphor\)\.name: duplicate",
        ),
        (
            (("metaphor", "A figure."), ("simile", "''")),
            r"line 7: skills\[1\] \(simile\)\.definition: must not be empty",
        ),
    ],
)
def test_broken_skills_name_file_line_and_field(
    tmp_path: Path, entries: tuple[tuple[str, str], ...], pattern: str
) -> None:
    path = write_skills(tmp_path, *entries)
    with pytest.raises(SkillmixError, match=rf"skills\.yaml: {pattern}"):
        load_skills(path)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "skills:\n  - name: x\n    category: cuisine\n    definition: d\n    example: e\n",
            r"category: unknown category 'cuisine'",
        ),
        (
            "skills:\n  - name: x\n    category: literary\n    definition: d\n",
            r"line 2: skills\[0\] \(x\)\.example: required key is missing",
        ),
        (
            "skills:\n  - {name: x, category: literary, definition: d, example: e, colour: red}\n",
            r"skills\[0\] \(x\)\.colour: unknown key",
        ),
        ("skills: [unclosed\n", r"line \d+: YAML syntax error"),
        ("topics:\n  - Sewing\n", r"skills: expected a top-level 'skills:' list"),
    ],
)
def test_malformed_skill_files(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "skills.yaml"
    path.write_text(text)
    with pytest.raises(SkillmixError, match=pattern):
        load_skills(path)


def test_topics_accept_strings_or_records_and_reject_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  - Sewing\n  - {name: Knots}\n")
    assert [t.name for t in load_topics(path)] == ["Sewing", "Knots"]
    path.write_text("topics:\n  - Sewing\n  - sewing\n")
    with pytest.raises(SkillmixError, match=r"line 3: topics\[1\] \(sewing\)\.name: duplicate"):
        load_topics(path)


def test_naming_conflicts_report_contained_base_names() -> None:
    skills = load_skills(ROOT / "data" / "skills.yaml")
    from skillmix.catalog import Skill

    extra = Skill(
        name="extended metaphor (literature)",
        category="literary",
        definition="A long metaphor.",
        example="All the world's a stage, and so on.",
    )
    assert ("metaphor", "extended metaphor (literature)") in naming_conflicts((*skills, extra))
