"""Items a fine-tuned student has seen: an evaluation of learned composition counts only on
skills and topics outside its training data, so the report flags the items that are not."""

from __future__ import annotations

from dataclasses import dataclass

from skillmix.records import Item
from skillmix.results.build import RunData


@dataclass(frozen=True)
class SeenInTraining:
    student: str
    data_sha256: str
    split: str | None  # the part and definition hash the training data was exported on
    items: int  # the run's configured items
    seen_skill: list[str]  # items holding a skill of the training data
    seen_topic: list[str]  # items on a topic of the training data


def seen_in_training(data: RunData) -> list[SeenInTraining]:
    config = data.config
    items = [i for i in data.items if i.k in config.k and i.index < config.items_per_k]
    found = []
    for student, training in data.training.items():
        skills, topics = set(training.get("skills", [])), set(training.get("topics", []))
        found.append(
            SeenInTraining(
                student=student,
                data_sha256=str(training.get("data_sha256", "")),
                split=_split_name(training.get("split")),
                items=len(items),
                seen_skill=[i.item_id for i in items if _holds_skill(i, skills)],
                seen_topic=[i.item_id for i in items if i.topic in topics],
            )
        )
    return found


def _holds_skill(item: Item, skills: set[str]) -> bool:
    return any(skill in skills for skill in item.skills)


def _split_name(split: object) -> str | None:
    if not isinstance(split, dict):
        return None
    categories = ", ".join(split.get("held_out_categories", []))
    return f"{split.get('part')} part (held-out categories: {categories})"


def training_notes(data: RunData) -> list[tuple[bool, str]]:
    """One line per fine-tuned student (flagged or not): what it was trained on and which
    items it has seen."""
    notes = []
    for seen in seen_in_training(data):
        where = f" ({seen.split})" if seen.split else ""
        head = f"{seen.student} was fine-tuned on data {seen.data_sha256[:12]}{where}"
        skill, topic = len(seen.seen_skill), len(seen.seen_topic)
        if not skill and not topic:
            notes.append(
                (False, f"{head}: none of the {seen.items} items holds a skill or topic it saw")
            )
            continue
        notes.append(
            (
                True,
                f"{head}: flagged, {skill} of {seen.items} items hold a skill of its training data "
                f"and {topic} its topic; its scores there are not on held-out skills",
            )
        )
    return notes
