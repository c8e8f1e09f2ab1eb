"""The one results builder: a run's stored records -> outcomes per item, the model x k x metric
rows and the cost per model and k. The terminal table, the leaderboard CSV, the DataFrames and
the HTML page are all views of what it builds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from skillmix.config import ExtraGrader, RunConfig, stored_config, stored_graders
from skillmix.errors import SkillmixError
from skillmix.protocol.sampler import CommonSkills
from skillmix.records import GenerationRecord, GradingRecord, Item
from skillmix.results.metrics import MetricRow, Outcome, aggregate, item_outcomes
from skillmix.run.conceptmix.store import is_conceptmix
from skillmix.run.store import RunStore
from skillmix.run.store_reading import gc_paused

Cost = tuple[float | None, float | None]  # (student USD, grader USD); None: unknown price


@dataclass(frozen=True)
class RunData:
    """What the results of a run are built from, as stored (a run store or a JSONL export)."""

    config: RunConfig
    items: list[Item]
    generations: list[GenerationRecord]
    gradings: list[GradingRecord]
    run_id: str = ""
    catalog_hash: str = ""
    prompt_hash: str = ""
    graders: tuple[ExtraGrader, ...] = ()  # added by `skillmix regrade`, beside config.grader
    # student -> what it was fine-tuned on (skills, topics, runs, split), for fine-tuned folders
    training: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class RunResults:
    config: RunConfig
    run_id: str
    catalog_hash: str
    prompt_hash: str
    items: list[Item]  # the configured items (k in config.k, index < items_per_k)
    outcomes: dict[tuple[str, str], Outcome]  # (student, item_id) -> its outcome
    generations: list[GenerationRecord]
    gradings: list[GradingRecord]

    @property
    def drop_common(self) -> bool:
        """Whether items holding a common skill are left out of the metrics."""
        return self.config.common_skills is CommonSkills.SCORING

    @cached_property
    def rows(self) -> list[MetricRow]:
        """The model x k x metric rows of the table."""
        students = [s.label for s in self.config.students]
        with gc_paused():  # each outcome's headline
            return aggregate(self.items, self.outcomes, students, drop_common=self.drop_common)

    @cached_property
    def costs(self) -> dict[tuple[str, int], Cost]:
        """(student, k) -> (student USD, grader USD)."""
        grader = self.config.grader.label
        return spending(self.items, self.generations, self.gradings, grader)


def refuse_conceptmix(store: RunStore) -> None:
    """Skill-Mix readers name the ConceptMix reader rather than misread its store."""
    if is_conceptmix(store):
        raise SkillmixError(
            "holds a ConceptMix run: `skillmix report` reads it (and writes results.csv and "
            "leaderboard.csv); from Python, skillmix.load_conceptmix",
            file=store.path,
        )


def read_run(store: RunStore, *, texts: bool = True) -> RunData:
    """A run's configuration and records, through the store's read API; `texts=False` leaves
    out answers, replies and reasons (see RunStore.generations)."""
    refuse_conceptmix(store)
    stored = store.get_meta("config")
    if stored is None:
        raise FileNotFoundError(f"{store.path}: the run has no configuration stored yet")
    return RunData(
        config=stored_config(stored, store.path),
        items=store.items(),
        generations=store.generations(texts=texts),
        gradings=store.gradings(texts=texts),
        run_id=store.get_meta("run_id") or "",
        catalog_hash=store.get_meta("catalog_hash") or "",
        prompt_hash=store.get_meta("prompt_hash") or "",
        graders=tuple(stored_graders(store.get_meta("graders"), store.path)),
        training=json.loads(store.get_meta("training_data") or "{}"),
    )


def graded_by(data: RunData, grader: ExtraGrader) -> RunData:
    """The run as if `grader` (with its R) had been its grader: its gradings are scored."""
    update = {"grader": grader.entry, "gradings": grader.gradings}
    return dataclasses.replace(data, config=data.config.model_copy(update=update))


def results_per_grader(data: RunData) -> list[RunResults]:
    """The run's results by its own grader, then by each grader `skillmix regrade` added."""
    return [build_results(data), *(build_results(graded_by(data, g)) for g in data.graders)]


def build_results(data: RunData) -> RunResults:
    with gc_paused():  # an outcome per student and item
        return _build_results(data)


def _build_results(data: RunData) -> RunResults:
    config = data.config
    items = [i for i in data.items if i.k in config.k and i.index < config.items_per_k]
    students = [s.label for s in config.students]
    outcomes = item_outcomes(
        items,
        students,
        config.grader.label,
        config.generations,
        config.gradings,
        data.generations,
        data.gradings,
    )
    return RunResults(
        config=config,
        run_id=data.run_id,
        catalog_hash=data.catalog_hash,
        prompt_hash=data.prompt_hash,
        items=items,
        outcomes=outcomes,
        generations=data.generations,
        gradings=data.gradings,
    )


def load_results(store: RunStore, grader: str | None = None, *, texts: bool = True) -> RunResults:
    """The results by the run's own grader, or by the grader labelled `grader`."""
    return graded_results(read_run(store, texts=texts), grader)


def graded_results(data: RunData, grader: str | None = None) -> RunResults:
    """The results by the run's own grader, or by the grader labelled `grader`."""
    every = results_per_grader(data)
    if grader is None:
        return every[0]
    for results in every:
        if results.config.grader.label == grader:
            return results
    known = ", ".join(repr(r.config.grader.label) for r in every)
    raise SkillmixError(f"no grader {grader!r} in this run (graders: {known})", field="--grader")


def _add(total: float | None, cost: float | None) -> float | None:
    return None if total is None or cost is None else total + cost


def spending(
    items: list[Item],
    generations: list[GenerationRecord],
    gradings: list[GradingRecord],
    grader: str,
) -> dict[tuple[str, int], Cost]:
    """Dollars per (student, k): its own calls, and the grader's calls on its answers."""
    k_of = {item.item_id: item.k for item in items}
    costs: dict[tuple[str, int], Cost] = {}
    for record in generations:
        if record.item_id in k_of:
            key = (record.student, k_of[record.item_id])
            student, graded = costs.get(key, (0.0, 0.0))
            costs[key] = (_add(student, record.cost_usd), graded)
    for grading in gradings:
        if grading.item_id in k_of and grading.grader == grader:
            key = (grading.student, k_of[grading.item_id])
            student, graded = costs.get(key, (0.0, 0.0))
            costs[key] = (student, _add(graded, grading.cost_usd))
    return costs
