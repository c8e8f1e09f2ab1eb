"""Templates are checked whole when loaded: bare placeholders only, and what each role needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.catalog import load_catalog
from skillmix.config import PromptPaths
from skillmix.errors import SkillmixError
from skillmix.protocol.prompts import item_values, load_template
from skillmix.protocol.sampler import CommonSkills, draw_item
from skillmix.run.plan import load_prompts
from tests.helpers.paths import ROOT

CATALOG = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")
ITEM = draw_item(CATALOG, seed=0, k=2, index=0, common=CommonSkills.SCORING)


@pytest.mark.parametrize("student", ["default.json", "llama_k_greater_2.json"])
@pytest.mark.parametrize("grader", ["gpt.json", "llama.json"])
def test_every_official_prompt_list_passes(reference_dir: Path, student: str, grader: str) -> None:
    prompts_dir = reference_dir / "skill-mix-official" / "prompts"
    prompts = load_prompts(
        PromptPaths(
            student=prompts_dir / "generation" / student, grader=prompts_dir / "grade" / grader
        )
    )
    assert "{student_answer}" in prompts.grader.text
    assert prompts.student_turn1.render(**item_values(ITEM, CATALOG)).count(ITEM.topic) >= 1


def test_literal_braces_and_an_empty_spec_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "turn2.txt"
    path.write_text("Keep {{braces}} about {topic:} in {num_sentences_str}.", encoding="utf-8")
    text = load_template(path).render(**item_values(ITEM, CATALOG))
    assert text == f"Keep {{braces}} about {ITEM.topic} in one sentence."


@pytest.mark.parametrize(
    ("paths", "missing"),
    [
        ({"student_turn1": "Write about {topic}."}, "{skills_defs} or"),
        ({"student_turn1": "Show {skills_defs}."}, "{topic}"),
        ({"grader": "Grade by {rubric_items}."}, "{student_answer}"),
        ({"grader": "Grade {student_answer}."}, "{rubric_items} or {rubric_list}"),
    ],
)
def test_a_template_missing_what_its_role_needs_is_refused(
    tmp_path: Path, paths: dict[str, str], missing: str
) -> None:
    ((role, text),) = paths.items()
    path = tmp_path / f"{role}.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SkillmixError) as error:
        load_prompts(PromptPaths.model_validate({role: path}))
    assert str(error.value).startswith(f"{path}: a {role} template needs ")
    assert missing in str(error.value)


def test_turn2_and_reply_format_need_no_placeholder(tmp_path: Path) -> None:
    turn2, reply = tmp_path / "turn2.txt", tmp_path / "reply.txt"
    turn2.write_text("Now make it shorter.", encoding="utf-8")
    reply.write_text("Answer with a table.", encoding="utf-8")
    prompts = load_prompts(PromptPaths(student_turn2=turn2, reply_format=reply))
    assert prompts.student_turn2.text == "Now make it shorter."
    assert prompts.reply_table.text == "Answer with a table."
