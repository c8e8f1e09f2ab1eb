"""`skillmix regrade`: a run's stored answers graded by another grader; no student is called.

The new grader's gradings are stored beside the run's own, under its label, through the same
content-addressed calls as `eval`, so a killed re-grade resumes where it stopped and never
asks a stored grading again. The run's own gradings and its configuration stay as they are;
the store lists the added graders (meta `graders`), and the results are built once per grader.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from skillmix.catalog import Catalog, load_catalog
from skillmix.config import ExtraGrader, ModelEntry, RunConfig, stored_config, stored_graders
from skillmix.errors import SkillmixError
from skillmix.models import ModelBackend, create_backend
from skillmix.records import GenerationRecord, GenerationStatus, Item
from skillmix.run.calls import RunStats
from skillmix.run.identity import entry_identity
from skillmix.run.lock import RunLock
from skillmix.run.opening import check_output_dir
from skillmix.run.plan import RunPlan, load_prompts
from skillmix.run.runner import Runner
from skillmix.run.store import DB_NAME, RunStore


@dataclass(frozen=True)
class RunFiles:
    """What a re-grade may take from elsewhere than the run's config: an imported official run
    records no catalog or prompt files of its own."""

    skills: Path | None = None
    topics: Path | None = None
    grader_prompt: Path | None = None


def open_for_regrade(run_dir: Path) -> RunStore:
    """The run directory's store, locked, for a re-grade: it must hold a run already."""
    if not (run_dir / DB_NAME).is_file():
        raise SkillmixError(
            "no run store here: re-grading needs a run (skillmix eval)", file=run_dir
        )
    check_output_dir(run_dir)
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        return RunStore(run_dir, lock)
    except BaseException:
        lock.release()
        raise


def regrade_plan(store: RunStore, grader: ExtraGrader, files: RunFiles) -> RunPlan:
    """The run's plan with `grader` in place of its own, and only the grader's backend."""
    text = store.get_meta("config")
    if text is None:
        raise SkillmixError("the run has no configuration stored yet", file=store.path)
    stored = stored_config(text, store.path)
    config = _regrade_config(stored, grader, files)
    catalog = load_catalog(config.catalog.skills, config.catalog.topics)
    prompts = load_prompts(config.prompts)
    imported = store.get_meta("source") is not None
    if not imported and files == RunFiles():
        _check_unchanged(store, "catalog_hash", catalog.content_hash, "catalog", "--skills")
        _check_unchanged(store, "prompt_hash", prompts.content_hash, "prompts", "--grader-prompt")
    items = [i for i in store.items() if i.k in config.k and i.index < config.items_per_k]
    _check_items_in(items, catalog, config)
    backend = grader_backend(grader.entry)
    return RunPlan(config, store.path, catalog, items, prompts, [], backend)


def _regrade_config(stored: RunConfig, grader: ExtraGrader, files: RunFiles) -> RunConfig:
    skills = files.skills or stored.catalog.skills
    topics = files.topics or stored.catalog.topics
    catalog = stored.catalog.model_copy(update={"skills": skills, "topics": topics})
    prompts = stored.prompts.model_copy(
        update={"grader": files.grader_prompt or stored.prompts.grader}
    )
    return stored.model_copy(
        update={
            "grader": grader.entry,
            "gradings": grader.gradings,
            "catalog": catalog,
            "prompts": prompts,
        }
    )


def _check_unchanged(store: RunStore, key: str, now: str, what: str, option: str) -> None:
    recorded = store.get_meta(key)
    if recorded and recorded != now:
        raise SkillmixError(
            f"the run's {what} changed since it ran ({recorded} then, {now} now): the grader "
            f"must see what the students saw; restore them, or name the files ({option})",
            file=store.path,
        )


def _check_items_in(items: list[Item], catalog: Catalog, config: RunConfig) -> None:
    names = {s.name for s in catalog.skills}
    for item in items:
        missing = [s for s in item.skills if s not in names]
        if missing:
            raise SkillmixError(
                f"item {item.item_id} names {missing[0]!r}, which the catalog "
                f"({config.catalog.skills}) does not have: give the run's catalog (--skills)",
                file=config.catalog.skills,
            )


def grader_backend(entry: ModelEntry) -> ModelBackend:
    try:
        return create_backend(entry.model, entry.settings)
    except SkillmixError as exc:
        raise SkillmixError(str(exc), field="--grader") from None


def check_grader(store: RunStore, grader: ExtraGrader) -> None:
    """Refuse a grader whose label names another grader of the run (read only: a re-grade
    checks it before it takes the run directory's lock)."""
    config = stored_config(store.get_meta("config") or "", store.path)
    label = grader.entry.label
    if label == config.grader.label:
        raise SkillmixError(
            f"{label!r} is the run's own grader (skillmix eval grades with it): give another "
            "grader, or another label with --name",
            field="--name",
        )
    graders = stored_graders(store.get_meta("graders"), store.path)
    for known in graders:
        if known.entry.label == label and entry_identity(known.entry) != entry_identity(
            grader.entry
        ):
            raise SkillmixError(
                f"{label!r} already names another grader in this run ({known.entry.model}): "
                "give this one its own label with --name",
                field="--name",
            )


def record_grader(store: RunStore, grader: ExtraGrader) -> None:
    """Add (or update the R of) the grader in the store's list of graders."""
    check_grader(store, grader)
    graders = stored_graders(store.get_meta("graders"), store.path)
    kept = [g for g in graders if g.entry.label != grader.entry.label]
    value = [g.model_dump(mode="json") for g in [*kept, grader]]
    store.set_meta("graders", json.dumps(value))


def config_graders(plan: RunPlan, store: RunStore) -> list[Regrader]:
    """The config's own extra graders (`graders:`), recorded, each ready to grade the run's
    answers R times once its students have answered."""
    regraders = []
    for entry in plan.config.graders:
        grader = ExtraGrader(entry=entry, gradings=plan.config.gradings)
        record_grader(store, grader)
        regraders.append(Regrader(regrade_plan(store, grader, RunFiles()), store))
    return regraders


class Regrader(Runner):
    """The runner's grading step alone, over the stored answers of the plan's items."""

    def entries(self) -> list[tuple[ModelEntry, ModelBackend]]:
        return [(self.plan.config.grader, self.plan.grader_backend)]

    def answers(self) -> list[tuple[GenerationRecord, Item]]:
        config, items = self.plan.config, {i.item_id: i for i in self.plan.items}
        students = {s.label for s in config.students}
        return [
            (record, items[record.item_id])
            for record in self.store.generations()
            if record.item_id in items
            and record.student in students
            and record.gen < config.generations
            and record.status is not GenerationStatus.FAILED
        ]

    async def run(self) -> RunStats:
        answers = self.answers()
        self.stats.total = len(answers)
        try:
            await asyncio.gather(*(self.regrade(record, item) for record, item in answers))
        finally:
            await self.calls.aclose_batchers()
            await self.plan.grader_backend.aclose()
            self.store.flush()  # the gradings written since the last response
        return self.stats

    async def regrade(self, record: GenerationRecord, item: Item) -> None:
        gradings = range(self.plan.config.gradings)
        answer = record.answer or ""
        await asyncio.gather(
            *(self.grade(record.student, item, record.gen, answer, r) for r in gradings)
        )
        self.stats.done += 1
