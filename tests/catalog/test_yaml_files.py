"""Configs and catalogs are read by one strict YAML loader: UTF-8 text, no repeated key, and
aliases that stay small."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from skillmix.catalog import load_catalog, load_skills
from skillmix.errors import SkillmixError
from skillmix.yamlfile import MAX_ALIAS_GROWTH, MAX_ALIASES, load_yaml

SKILLS = [
    {"name": n, "category": "literary", "definition": f"{n} defined.", "example": "An example."}
    for n in ("irony", "dramatic irony")
]


def load(tmp_path: Path, text: str | bytes) -> object:
    path = tmp_path / "f.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load_yaml(path)


def test_aliases_and_merge_keys_within_the_limits_load(tmp_path: Path) -> None:
    text = (
        "base: &p {temperature: 0.7, max_tokens: 64}\n"
        "students:\n  - {params: *p}\n  - params:\n      <<: *p\n      max_tokens: 32\n"
    )
    data = load(tmp_path, text)
    assert data == {
        "base": {"temperature": 0.7, "max_tokens": 64},
        "students": [
            {"params": {"temperature": 0.7, "max_tokens": 64}},
            {"params": {"temperature": 0.7, "max_tokens": 32}},  # a merge may be overridden
        ],
    }


def test_the_alias_limit_is_exact(tmp_path: Path) -> None:
    aliases = ", ".join(["*a"] * MAX_ALIASES)
    assert load(tmp_path, f"a: &a 1\nb: [{aliases}]\n") == {"a": 1, "b": [1] * MAX_ALIASES}
    with pytest.raises(SkillmixError, match=rf"line 2: more than {MAX_ALIASES} YAML aliases"):
        load(tmp_path, f"a: &a 1\nb: [{aliases}, *a]\n")


def test_aliases_may_not_grow_the_document_much(tmp_path: Path) -> None:
    block = "[" + ", ".join(["x"] * 199) + "]"  # 200 nodes, each alias of it adds 200 more
    uses = MAX_ALIAS_GROWTH // 200

    def text(n: int) -> str:
        return f"a: &a {block}\nb: [{', '.join(['*a'] * n)}]\n"

    assert load(tmp_path, text(uses)) == {"a": ["x"] * 199, "b": [["x"] * 199] * uses}
    with pytest.raises(SkillmixError, match=r"line 1: YAML aliases expand to \d+ nodes"):
        load(tmp_path, text(uses + 1))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\nb:\n  c: 1\n  c: 2\n", "line 4: duplicate key 'c' (first on line 3)"),
        ("- {x: 1, x: 1}\n", "line 1: duplicate key 'x'"),
        ("1: a\n'1': b\n0x1: c\n", "line 3: duplicate key 1 (first on line 1)"),
    ],
)
def test_a_repeated_key_is_refused_with_its_line(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(SkillmixError, match=re.escape(f"f.yaml: {where}")):
        load(tmp_path, text)


def test_a_byte_order_mark_is_fine_but_other_bytes_are_not(tmp_path: Path) -> None:
    assert load(tmp_path, "\ufeffa: 1\n".encode()) == {"a": 1}
    with pytest.raises(SkillmixError, match=r"f\.yaml: not UTF-8 text \(byte 0xff at offset 3\)"):
        load(tmp_path, b"a: \xff\n")


def test_a_catalog_is_checked_as_a_whole_wherever_it_is_loaded(tmp_path: Path) -> None:
    skills, topics = tmp_path / "skills.yaml", tmp_path / "topics.yaml"
    skills.write_text(yaml.safe_dump({"skills": SKILLS}), encoding="utf-8")
    topics.write_text("topics: [Sewing]\n", encoding="utf-8")
    assert len(load_skills(skills)) == 2  # each record is fine on its own
    with pytest.raises(SkillmixError, match=r"skills\.yaml: skills: .*'irony' inside"):
        load_catalog(skills, topics)
