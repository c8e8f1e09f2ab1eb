"""The official ConceptMix items read from 300_sentences_k={k}.json: ours, and the released."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skillmix.catalog.concepts import load_concepts
from skillmix.errors import SkillmixError
from skillmix.protocol.conceptmix.official_items import read_official_items
from skillmix.records import Concept
from tests.helpers.paths import FIXTURES, ROOT, SHARED_REFERENCE

FOLDER = FIXTURES / "conceptmix" / "sentence_collection"
RELEASED = SHARED_REFERENCE / "conceptmix" / "sentence_collection"
CATALOG = ROOT / "data" / "concepts.yaml"


def test_fixture_items() -> None:
    items = read_official_items(FOLDER, [1, 2, 3], None)
    assert [i.item_id for i in items] == [f"k{k}-{n:04d}" for k in (1, 2, 3) for n in (1, 2, 3, 4)]
    assert all(i.source == "official" and len(i.concepts) == i.k + 1 for i in items)
    by_id = {i.item_id: i for i in items}
    first = by_id["k1-0001"]
    assert first.prompt == "A gray cat naps on a wooden step."
    assert first.concepts == (
        Concept(category="object", value="cat"),
        Concept(category="color", value="gray"),
    )


def test_blank_questions_are_dropped_and_the_rest_line_up() -> None:
    items = {i.item_id: i for i in read_official_items(FOLDER, [2], None)}
    blank = items["k2-0001"]  # four entries, one of them blank
    assert [q.text for q in blank.questions][1] == "Are there exactly two teddy bears?"
    assert [(q.category, q.value) for q in blank.questions] == [
        ("object", "teddy bear"),
        ("number", "2"),
        ("texture", "fluffy"),
    ]
    assert items["k2-0002"].questions[0].text == "Is there a truck in the picture?"  # stripped


def test_questions_that_do_not_line_up_carry_no_concept() -> None:
    items = {i.item_id: i for i in read_official_items(FOLDER, [3], None)}
    merged = items["k3-0002"]  # 3 questions for 4 concepts
    assert len(merged.questions) == 3
    assert {(q.category, q.value) for q in merged.questions} == {(None, None)}
    assert items["k3-0004"].questions[3].category == "spatial"


def test_per_k_takes_the_first_by_index() -> None:
    items = read_official_items(FOLDER, [3, 1], 2)  # the k=3 file lists 2, 1, 4, 3
    assert [i.item_id for i in items] == ["k3-0001", "k3-0002", "k1-0001", "k1-0002"]
    assert read_official_items(FOLDER, [2], 0) == []


def test_fixture_values_are_in_the_shipped_catalog() -> None:
    catalog = load_concepts(CATALOG)
    assert len(read_official_items(FOLDER, [1, 2, 3], None, catalog)) == 12


@pytest.mark.skipif(not RELEASED.is_dir(), reason="the released ConceptMix files are not here")
def test_released_items() -> None:
    items = read_official_items(RELEASED, list(range(1, 8)), None, load_concepts(CATALOG))
    assert len(items) == 2100 and len({i.item_id for i in items}) == 2100
    assert sum(len(i.questions) for i in items) == 10_503
    assert all(q.text and q.text == q.text.strip() for i in items for q in i.questions)
    unaligned = [i.item_id for i in items if i.questions[0].category is None]
    assert unaligned == ["k6-0158"]
    assert len(read_official_items(RELEASED, [4], 25)) == 25


ENTRY = {
    "index": 1,
    "sentence": "A red cat.",
    "categories": ["object", "color"],
    "skills": ["cat", "red"],
    "question": ["Is there a cat?", "Is it red?"],
}


def _entry(**changes: Any) -> dict[str, Any]:
    entry = {**ENTRY, **changes}
    return {key: value for key, value in entry.items() if value is not None}


CASES: list[tuple[str, str]] = [
    ('[\n  {\n    "index": 1,,\n  }\n]', r"k=1\.json: line 3: malformed JSON"),
    (json.dumps({"items": []}), r"k=1\.json: expected a JSON list"),
    (json.dumps([ENTRY, _entry(question=None)]), r"k=1\.json: \[1\]\.question: required key"),
    (json.dumps([_entry(index="1")]), r"\[0\]\.index: must be an integer"),
    (json.dumps([_entry(index=True)]), r"\[0\]\.index: must be an integer"),
    (json.dumps([_entry(sentence=["A cat."])]), r"\[0\]\.sentence: must be a string"),
    (json.dumps([_entry(question=["Is there a cat?", 2])]), r"\[0\]\.question\[1\]: must be a"),
    (json.dumps([_entry(skills=["cat"])]), r"\[0\]\.skills: 1 skills for 2 categories"),
    (json.dumps([ENTRY, ENTRY]), r"\[1\]\.index: duplicate index 1 \(also \[0\]\)"),
    (json.dumps([_entry(categories=["object", "colour"])]), r"\[0\]\.categories\[1\]: unknown"),
    (json.dumps(["A cat."]), r"k=1\.json: \[0\]: expected an object"),
]


@pytest.mark.parametrize(("text", "pattern"), CASES)
def test_bad_item_files_name_file_and_field(tmp_path: Path, text: str, pattern: str) -> None:
    (tmp_path / "300_sentences_k=1.json").write_text(text)
    with pytest.raises(SkillmixError, match=pattern) as caught:
        read_official_items(tmp_path, [1], None)
    assert "\n" not in str(caught.value)


def test_an_unknown_value_is_refused_against_a_catalog(tmp_path: Path) -> None:
    (tmp_path / "300_sentences_k=1.json").write_text(json.dumps([_entry(skills=["cat", "teal"])]))
    assert len(read_official_items(tmp_path, [1], None)) == 1  # no catalog: not checked
    with pytest.raises(SkillmixError, match=r"k=1\.json: \[0\]\.skills\[1\]: unknown color value"):
        read_official_items(tmp_path, [1], None, load_concepts(CATALOG))


def test_missing_folder_and_k_file(tmp_path: Path) -> None:
    with pytest.raises(SkillmixError, match=r"nowhere: folder not found"):
        read_official_items(tmp_path / "nowhere", [1], None)
    with pytest.raises(SkillmixError, match=r"300_sentences_k=5\.json: file not found \(.*k=5\)"):
        read_official_items(FOLDER, [1, 5], None)
