"""Byte for byte: with the official catalog and prompt files, every prompt skillmix renders for
the official records' items is the one the official code sent (turn 1, turn 2 and the grader's,
system prompts and whole conversations included)."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from skillmix.protocol.rubric import RubricWording
from skillmix.protocol.student import turn1_messages, turn2_messages
from skillmix.records import ChatMessage, Item
from skillmix.run.plan import RunPlan, build_plan
from tests.helpers.configs import model_entry, run_config
from tests.helpers.official import official_skills, read_records

HELPFUL = "You are a helpful assistant."
NOWHERE = "http://127.0.0.1:9/v1"  # the discard port: nothing is called


@dataclass(frozen=True)
class Student:
    """One student folder of an official round: its rows and their graded copies."""

    records: Path
    rows: list[dict[str, str]]
    graded: list[list[dict[str, str]]]

    def cell(self, row: dict[str, str], name: str, turn: int) -> str:
        """The column of a turn: `user_0` in OpenAI records, `[INST]_0` in open models'."""
        openai, fastchat = {"user": ("user", "[INST]"), "reply": ("assistant", "[/INST]")}[name]
        return row.get(f"{openai}_{turn}", row.get(f"{fastchat}_{turn}", ""))


def students(reference: Path) -> list[Student]:
    found = []
    for repo in ("skill-mix-official", "skill-mix-fork-toy"):
        for records in sorted((reference / repo / "test").glob("*/*/records.csv")):
            graded = sorted(records.parent.glob("graded/*/records.csv"))
            found.append(Student(records, read_records(records), [read_records(g) for g in graded]))
    return found


def official_plan(
    reference: Path, grader_prompt: Path, output_dir: Path, wording: str = "auto"
) -> RunPlan:
    """A plan of the official catalog and prompt files."""
    official = reference / "skill-mix-official"
    data = run_config(
        output_dir,
        catalog={"skills": str(official / "skills.csv"), "topics": str(official / "topics.txt")},
        prompts={
            "student": str(official / "prompts" / "generation" / "default.json"),
            "grader": str(grader_prompt),
        },
        k=[2],
        rubric_wording=wording,
        answer_extraction="official",
        students=[model_entry("openai/gpt-4", base_url=NOWHERE, system_prompt=HELPFUL)],
        grader=model_entry("openai/gpt-4", base_url=NOWHERE, system_prompt=HELPFUL),
    )
    return build_plan(data)


@pytest.fixture(scope="module")
def plans(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunPlan]:
    """The GPT-4 grader's prompt file, and as the fork read it (as cp1252: its two '’' became
    'â€™' in every grader prompt the fork sent); the LLaMA-2 grader's (the official repository
    graded its open-model students with it), with its own wording and the GPT-4 wording."""
    pytest.MonkeyPatch().setenv("OPENAI_API_KEY", "test")
    folder = tmp_path_factory.mktemp("official")
    grade = reference_dir / "skill-mix-official" / "prompts" / "grade"
    as_the_fork_read_it = folder / "gpt-cp1252.json"
    as_the_fork_read_it.write_text((grade / "gpt.json").read_bytes().decode("cp1252"), "utf-8")
    out = folder / "run"
    return {
        "gpt": official_plan(reference_dir, grade / "gpt.json", out),
        "gpt, fork": official_plan(reference_dir, as_the_fork_read_it, out),
        "llama": official_plan(reference_dir, grade / "llama.json", out),
        "llama, gpt-4 wording": official_plan(reference_dir, grade / "llama.json", out, "gpt-4"),
    }


def grading_of(student: Student, plans: dict[str, RunPlan], item: Item) -> list[ChatMessage]:
    """The grader conversation of a student folder's answer, by how its repository graded that
    folder: the official GPT-4 students with gpt.json, the fork's with gpt.json as it read it;
    mistral-7b-chat with llama.json and the GPT-4 wording; llama2-7b-chat with llama.json by a
    code state that left the rubric list empty ('The criteria are: .'), rendered here from an
    empty rubric."""
    folder = student.records.parent.name
    gpt = "gpt, fork" if "fork" in student.records.parts[-5] else "gpt"
    plan = {"llama2-7b-chat": "llama", "mistral-7b-chat": "llama, gpt-4 wording"}.get(folder, gpt)
    rubric = [] if folder == "llama2-7b-chat" else plans[plan].rubric(item)
    answer = plans[plan].extract_answer(student.cell(student.rows[item.index], "reply", 1))
    return plans[plan].grader_messages(item, answer, rubric, structured=False)


def item_of(row: dict[str, str], index: int) -> Item:
    skills = official_skills(row["skills"])
    return Item(
        item_id=f"k{len(skills)}-{index:05d}",
        k=len(skills),
        index=index,
        skills=skills,
        topic=row["topic"],
        has_common_skill=False,
    )


def sent(model_input: str) -> list[ChatMessage] | None:
    """The conversation an OpenAI student was sent (None for open models' prompt strings)."""
    return ast.literal_eval(model_input) if model_input.startswith("[{") else None


def test_the_wording_follows_the_official_grader_file_or_the_config(
    plans: dict[str, RunPlan],
) -> None:
    assert plans["gpt"].rubric_wording is RubricWording.GPT4
    assert plans["llama"].rubric_wording is RubricWording.LLAMA2
    assert plans["llama, gpt-4 wording"].rubric_wording is RubricWording.GPT4
    assert plans["gpt, fork"].rubric_wording is RubricWording.GPT4
    item = item_of({"skills": "Metaphor, \nred herring", "topic": "Sewing"}, 0)
    texts = {name: [r.text for r in plan.rubric(item)[:2]] for name, plan in plans.items()}
    assert texts["gpt"] == ["Correctly illustrates metaphor", "Correctly illustrates red herring"]
    assert texts["llama"] == ["Contains metaphor", "Contains red herring"]


def test_every_official_prompt_is_rendered_byte_for_byte(
    plans: dict[str, RunPlan], reference_dir: Path
) -> None:
    compared: Counter[str] = Counter()
    for student in students(reference_dir):
        plan = plans["gpt"]
        for index, row in enumerate(student.rows):
            where = f"{student.records} row {index + 1}"
            item = item_of(row, index)
            system = row["system prompt"] or None
            turn1 = turn1_messages(item, plan.catalog, plan.prompts, system)
            assert turn1[-1]["content"] == student.cell(row, "user", 0), where
            reply1 = student.cell(row, "reply", 0)
            turn2 = turn2_messages(turn1, reply1, item, plan.catalog, plan.prompts)
            assert turn2[-1]["content"] == student.cell(row, "user", 1), where
            for messages, column in ((turn1, "model_input_0"), (turn2, "model_input_1")):
                if (recorded := sent(row[column])) is not None:
                    assert messages == recorded, f"{where} {column}"
                    compared["conversations"] += 1
            answer = plan.extract_answer(student.cell(row, "reply", 1))
            assert answer == row["text_1"], where
            grader = grading_of(student, plans, item)
            for graded in (g for g in student.graded if index < len(g)):  # some stopped early
                assert grader == sent(graded[index]["model_input_0"]), where
                assert grader[-1]["content"] == graded[index]["user_0"], where
                compared["grader prompts"] += 1
            compared["items"] += 1
    # 42 student folders of 5 items, graded 3 times each (but for 7 open-model rows); the 20
    # rows of open models (4 folders) recorded prompt strings, not conversations
    assert compared == {"items": 210, "conversations": 2 * 190, "grader prompts": 609}
