"""The official placeholders render as the official code renders them, our own keep our format,
the rubric is worded by grader version and read back by criterion name whatever the wording,
and the answer is cut the official way on demand. (The byte-for-byte check against the official
records is tests/official/test_official_prompts.py; this file needs no reference files.)"""

from __future__ import annotations

from pathlib import Path

import inflect
import pytest

from skillmix.catalog import Catalog, Skill, Topic, load_catalog
from skillmix.protocol.grading import GradingPolicy, score_reply
from skillmix.protocol.prompts import item_values
from skillmix.protocol.rubric import RubricWording, build_rubric, number_in_words
from skillmix.protocol.student import AnswerExtraction, extract_answer
from skillmix.records import GradingStatus, Item

# text as an official catalog may have it: a trailing space, curly quotes, a spaced parenthesis
LOADED = Skill(
    name="loaded question (implicit assumption )",
    category="rhetorical",
    definition="A question carrying an assumption. ",
    example="“Why are you lying?”",
)
HERRING = Skill(
    name="Red herring",
    category="rhetorical",
    definition="A distraction.",
    example="And what about the weather?",
)
CATALOG = Catalog(skills=(LOADED, HERRING), topics=(Topic(name="Sewing"),))
ITEM = Item(
    item_id="k2-00000",
    k=2,
    index=0,
    skills=(LOADED.name, HERRING.name),
    topic="Sewing",
    has_common_skill=False,
)


def test_official_placeholders_render_the_official_way_with_the_exact_text() -> None:
    values = item_values(ITEM, CATALOG)
    assert values["skills_str"] == "loaded question (implicit assumption ), Red herring"
    assert values["skills_defs_and_examples_simple"] == (
        "**loaded question (implicit assumption )**: A question carrying an assumption.  "
        "For example, “Why are you lying?”\n"
        "**Red herring**: A distraction. For example, And what about the weather?"
    )
    assert values["skills_defs"] == (
        "**loaded question (implicit assumption )**: A question carrying an assumption. \n"
        "**Red herring**: A distraction."
    )
    assert values["skills_defs_and_examples"].splitlines()[3:] == [
        "Skill: Red herring",
        "Definition: A distraction.",
        "Example: And what about the weather?",
    ]
    assert (values["num_skills"], values["num_skills_str"]) == ("2", "two")
    assert (values["num_sentences"], values["num_sentences_str"]) == ("1", "one sentence")


def test_our_placeholders_keep_our_format() -> None:
    values = item_values(ITEM, CATALOG)
    assert values["skill_list"].splitlines()[1] == (
        "- Red herring: A distraction. Example: And what about the weather?"
    )
    assert values["skill_list_brief"].splitlines()[1] == "- Red herring: A distraction."


@pytest.mark.parametrize(
    ("wording", "first"),
    [
        (RubricWording.SKILLMIX, "Correctly illustrates loaded question (implicit assumption )"),
        (RubricWording.GPT4, "Correctly illustrates loaded question (implicit assumption )"),
        (RubricWording.LLAMA2, "Contains loaded question (implicit assumption )"),
    ],
)
def test_the_rubric_is_worded_by_grader_version(wording: RubricWording, first: str) -> None:
    rubric = build_rubric(ITEM.skills, ITEM.topic, wording)
    assert rubric[0].text == first and rubric[0].key == f"skill:{LOADED.name}"
    herring = "Red herring" if wording is RubricWording.SKILLMIX else "red herring"
    assert rubric[1].text.endswith(herring)  # the official code lower-cases the names
    assert [r.text for r in rubric[2:]] == [
        "Pertains to Sewing",
        "Text makes sense",
        "At most one sentence",
    ]


@pytest.mark.parametrize("wording", [RubricWording.GPT4, RubricWording.LLAMA2])
def test_replies_are_read_by_criterion_whatever_the_wording(wording: RubricWording) -> None:
    rubric = build_rubric(ITEM.skills, ITEM.topic, wording)
    if wording is RubricWording.LLAMA2:  # the LLaMA-2 grader: "Point earned" per item
        reply = "\n".join(
            f"{r.text}: the answer {'does' if n != 1 else 'does not'} meet it. Point earned: "
            f"{int(n != 1)}"
            for n, r in enumerate(reversed(rubric))  # out of order: matched by name
        )
    else:
        rows = "\n".join(f"| {r.text} | {int(r.kind != 'sense')} |" for r in rubric)
        reply = f"Here's the grading table:\n\n| Criteria | Points Earned |\n|---|---|\n{rows}"
    score = score_reply(reply, rubric, "A plain sentence.", GradingPolicy())
    assert score.status is GradingStatus.SCORED and score.grader_points is not None
    expected = {r.key: 1 for r in rubric}
    expected["sense" if wording is RubricWording.GPT4 else rubric[-2].key] = 0
    assert score.grader_points == expected


@pytest.mark.parametrize(
    ("reply", "ours", "official"),
    [
        ("**Answer:** Bold start.\n\n**Explanation:** why", "Bold start.", "** Bold start.\n\n**"),
        ('Answer: "Quoted."\nExplanation: x', '"Quoted."', '"Quoted."'),
        ("No marker.", "No marker.", "No marker."),
    ],
)
def test_the_official_extraction_keeps_what_the_official_code_kept(
    reply: str, ours: str, official: str
) -> None:
    assert extract_answer(reply) == ours
    assert extract_answer(reply, AnswerExtraction.OFFICIAL) == official


def test_numbers_are_in_words_as_inflect_writes_them() -> None:
    engine = inflect.engine()
    assert [number_in_words(n) for n in range(1, 201)] == [
        engine.number_to_words(str(n))
        for n in range(1, 201)  # typed for numbers.Number
    ]


def test_yaml_catalogs_keep_quoted_text_and_official_files_load_directly(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        'skills:\n  - {name: " Red herring ", category: rhetorical, '
        'definition: "A distraction. ", example: "And the weather?"}\n',
        encoding="utf-8",
    )
    (tmp_path / "t.txt").write_text("Sewing\nThe Silk Road\n", encoding="utf-8")
    catalog = load_catalog(tmp_path / "s.yaml", tmp_path / "t.txt")
    skill = catalog.skills[0]
    assert (skill.name, skill.definition) == ("Red herring", "A distraction. ")  # name trimmed
    assert [t.name for t in catalog.topics] == ["Sewing", "The Silk Road"]
