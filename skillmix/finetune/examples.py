"""Fine-tuning examples from a graded run: the student's turn-1 conversation, answered by its
graded final answer, for every generation the chosen metric gives full credit.

An example is left out, and counted under its reason, when its student or k is not selected,
its generation has no scored answer, its score falls short, or (with a train/held_out split)
one of its skills or its topic is not in the exported part. Held-out skills never leak into
training data unless the export is told to let them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skillmix.catalog import Catalog, load_catalog
from skillmix.catalog.splits import (
    SplitConfig,
    SplitPart,
    apply_split,
    held_out_skills,
    held_out_topics,
)
from skillmix.config import RunConfig
from skillmix.errors import SkillmixError
from skillmix.protocol.prompts import PromptSet
from skillmix.protocol.student import turn1_messages
from skillmix.records import ChatMessage, GenerationRecord, Item
from skillmix.results.build import RunData, build_results, read_run
from skillmix.results.metrics import METRICS
from skillmix.run.plan import load_prompts
from skillmix.run.store import RunStore

Only = Literal["full_marks", "all_skills"]


@dataclass(frozen=True)
class Selection:
    """Which graded answers become examples."""

    only: Only = "full_marks"
    k: tuple[int, ...] | None = None  # None: every k of the run
    students: tuple[str, ...] | None = None  # None: every student of the run
    include_held_out: bool = False  # let items with held-out skills or topics through


@dataclass(frozen=True)
class Example:
    messages: list[ChatMessage]
    metadata: dict[str, Any]


@dataclass
class RunExamples:
    run_id: str
    run_dir: Path
    examples: list[Example] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)


def run_split(
    config: RunConfig, part: SplitPart | None, split: SplitConfig | None
) -> SplitConfig | None:
    """The split an export checks against: the one given, else the run's own train/held_out
    split; `part` (when given) chooses which side is exported."""
    chosen = split if split is not None else config.catalog.split
    if chosen is not None and not chosen.is_train_held_out:
        chosen = None
    if chosen is None:
        if part is not None:
            raise SkillmixError(
                "the run has no train/held_out split: name its definition with --split-file",
                field="--split",
            )
        return None
    return chosen if part is None else chosen.model_copy(update={"part": part})


def run_examples(
    run_dir: Path, selection: Selection, part: SplitPart | None, split: SplitConfig | None
) -> tuple[RunExamples, SplitConfig | None]:
    store = RunStore.open_for_reading(run_dir)
    try:
        data = read_run(store)
        chosen = run_split(data.config, part, split)
        catalog = load_catalog(data.config.catalog.skills, data.config.catalog.topics)
        found = RunExamples(data.run_id, run_dir)
        conversations = _Conversations(data.config, catalog, _stored_turn1(store, data.generations))
        _collect(found, data, selection, _side_check(catalog, chosen), conversations)
    finally:
        store.close()
    return found, chosen


def _stored_turn1(
    store: RunStore, generations: list[GenerationRecord]
) -> dict[str, list[ChatMessage]]:
    """The turn-1 conversations as sent (or, for an imported run, as its records hold them),
    by response key."""
    stored = store.stored_responses(g.turn1_key for g in generations)
    return {key: response.request["messages"] for key, response in stored.items()}


def _side_check(catalog: Catalog, split: SplitConfig | None) -> _Side | None:
    if split is None:
        return None
    apply_split(catalog, split, split.source)  # a split that names no topic or skill: one line
    return _Side(
        split.part is SplitPart.HELD_OUT,
        held_out_skills(catalog, split),
        held_out_topics(catalog, split),
    )


@dataclass(frozen=True)
class _Side:
    held_out: bool  # the exported part is the held-out one
    skills: set[str]  # the held-out skills
    topics: set[str]  # the held-out topics

    def holds(self, item: Item) -> bool:
        """Whether every skill and the topic of `item` lie on the exported side."""
        on_side = [(s in self.skills) == self.held_out for s in item.skills]
        return all(on_side) and (item.topic in self.topics) == self.held_out


def _collect(
    found: RunExamples,
    data: RunData,
    selection: Selection,
    side: _Side | None,
    conversations: _Conversations,
) -> None:
    results = build_results(data)
    config = data.config
    metric = METRICS[selection.only]
    answers = {(g.student, g.item_id, g.gen): g for g in data.generations}
    items = {i.item_id: i for i in results.items}
    for (student, item_id), outcome in sorted(results.outcomes.items()):
        item = items[item_id]
        if selection.students is not None and student not in selection.students:
            found.left_out["student not selected"] += config.generations
            continue
        if selection.k is not None and item.k not in selection.k:
            found.left_out["k not selected"] += config.generations
            continue
        scored = outcome.by_generation
        found.left_out["no scored answer"] += config.generations - len(scored)
        for gen, points in sorted(scored.items()):
            if metric(points) < 1.0:
                found.left_out[f"not {selection.only}"] += 1
            elif side is not None and not side.holds(item) and not selection.include_held_out:
                found.left_out["held-out skill or topic"] += 1
            else:
                record = answers[(student, item_id, gen)]
                answer: ChatMessage = {"role": "assistant", "content": record.answer or ""}
                messages = [*conversations.turn1(record, item), answer]
                found.examples.append(
                    Example(messages, _metadata(found, item, record, points, config))
                )


@dataclass
class _Conversations:
    """Each generation's turn-1 conversation: as stored with its call, or, where none is
    stored (a run imported by an older skillmix), rendered from the run's config."""

    config: RunConfig
    catalog: Catalog
    stored: dict[str, list[ChatMessage]]
    prompts: PromptSet | None = None

    def turn1(self, record: GenerationRecord, item: Item) -> list[ChatMessage]:
        if record.turn1_key in self.stored:
            return self.stored[record.turn1_key]
        self.prompts = self.prompts or load_prompts(self.config.prompts)
        entry = next(s for s in self.config.students if s.label == record.student)
        return turn1_messages(item, self.catalog, self.prompts, entry.system_prompt)


def _metadata(
    found: RunExamples,
    item: Item,
    record: GenerationRecord,
    points: dict[str, int],
    config: RunConfig,
) -> dict[str, Any]:
    return {
        "run_id": found.run_id,
        "run_dir": str(found.run_dir),
        "student": record.student,
        "grader": config.grader.label,
        "item_id": item.item_id,
        "k": item.k,
        "skills": list(item.skills),
        "topic": item.topic,
        "gen": record.gen,
        "points": points,
        **{name: metric(points) for name, metric in METRICS.items()},
    }
