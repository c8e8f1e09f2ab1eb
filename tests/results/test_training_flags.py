"""A fine-tuned student evaluated on items whose skills or topics were in its training data
is flagged in the report; on held-out items it is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillmix.config import parse_config
from skillmix.records import Item
from skillmix.results.build import RunData
from skillmix.results.training import seen_in_training, training_notes
from tests.helpers.configs import model_entry, run_config


def item(index: int, skills: tuple[str, ...], topic: str) -> Item:
    return Item(
        item_id=f"k2-{index:05d}",
        k=2,
        index=index,
        skills=skills,
        topic=topic,
        has_common_skill=False,
    )


ITEMS = [item(0, ("a", "b"), "t1"), item(1, ("c", "d"), "t2"), item(2, ("a", "d"), "t3")]
TRAINING: dict[str, object] = {
    "data_sha256": "f" * 64,
    "runs": [],
    "skills": ["a", "x"],
    "topics": ["t2"],
}
SPLIT: dict[str, object] = {"part": "train", "held_out_categories": ["logical"]}


def run(training: dict[str, dict[str, Any]]) -> RunData:
    students = [model_entry("scripted/s", name="tuned"), model_entry("scripted/s", name="base")]
    data = run_config(Path("run"), students=students, grader="scripted/g", k=[2], items_per_k=3)
    return RunData(parse_config(data, "<test>"), ITEMS, [], [], training=training)


def test_items_with_a_trained_skill_or_topic_are_flagged() -> None:
    (seen,) = seen_in_training(run({"tuned": TRAINING | {"split": SPLIT}}))
    assert seen.student == "tuned" and seen.items == 3
    assert seen.seen_skill == ["k2-00000", "k2-00002"]
    assert seen.seen_topic == ["k2-00001"]
    ((flagged, line),) = training_notes(run({"tuned": TRAINING | {"split": SPLIT}}))
    assert flagged and "2 of 3 items hold a skill" in line and "train part" in line


def test_held_out_items_and_untrained_students_are_not_flagged() -> None:
    held_out = TRAINING | {"skills": ["y"], "topics": ["t9"]}
    ((flagged, line),) = training_notes(run({"tuned": held_out}))
    assert not flagged and "none of the 3 items" in line
    assert training_notes(run({})) == []
