"""What a run is, so that two runs never mix in one run directory.

A run directory holds one run. Its items depend on the seed (or the items file), the catalog
and how common skills are treated; its requests on the prompts and on each model entry's model,
parameters, system prompt and options; its points on the grading rules. A config that changes
any of these for a run directory that already holds answers describes another run: `eval`
refuses it (or, asked, sets the old run aside). Growing the run is fine: more k values, items,
generations, gradings or students, another budget, other retry or concurrency settings.
"""

from __future__ import annotations

from typing import Any

from skillmix.config import ModelEntry, RunConfig
from skillmix.records import Item

ENTRY_FIELDS = {"model", "params", "system_prompt", "options"}


def entry_identity(entry: ModelEntry) -> Any:
    """What a model entry's requests depend on (not its retries, concurrency or label)."""
    return entry.model_dump(mode="json", include=ENTRY_FIELDS)


def identity(config: RunConfig, catalog_hash: str, prompt_hash: str) -> dict[str, Any]:
    """What must stay the same for a run to go on, by config field."""
    found: dict[str, Any] = {
        "seed": config.seed if config.items is None else None,  # an items file is not drawn
        "catalog": catalog_hash,
        "catalog.split": config.catalog.split.model_dump(mode="json")
        if config.catalog.split
        else None,
        "prompts": prompt_hash,
        "common_skills": config.common_skills.value,
        "sentence_splitter": config.sentence_splitter.value,
        "naming_penalty": config.naming_penalty.value,
        "rubric_wording": config.rubric_wording.value,
        "answer_extraction": config.answer_extraction.value,
        "structured_grading": config.structured_grading,
        f"grader ({config.grader.label})": entry_identity(config.grader),
    }
    for entry in config.students:
        found[f"students ({entry.label})"] = entry_identity(entry)
    return found


def changes(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The fields whose value differs (a student or grader label on one side only is a
    student added or dropped, not a change)."""
    return [key for key in wanted if key in stored and stored[key] != wanted[key]]


def changed_items(stored: list[Item], planned: list[Item]) -> list[str]:
    """Item ids the store holds with other skills or another topic than the plan."""
    known = {item.item_id: item for item in stored}
    return [i.item_id for i in planned if i.item_id in known and known[i.item_id] != i]
