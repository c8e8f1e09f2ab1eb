"""`skillmix calibrate`: a grader grades the labelled calibration set, as a run of its own.

The set's answers become the stored answers of a student named "calibration set" (no student
is called), so the grader is asked through the same content-addressed calls, prompts and
rubric as in `eval`, and a killed calibration resumes. What it got wrong is read against the
labels by skillmix.results.calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skillmix.catalog import load_catalog
from skillmix.config import CatalogPaths, ExtraGrader, ModelEntry, PromptPaths, RunConfig
from skillmix.protocol.calibration_set import CalibrationAnswer, load_calibration_set
from skillmix.protocol.sampler import CommonSkills
from skillmix.records import GenerationRecord, GenerationStatus, Item
from skillmix.run.opening import open_run
from skillmix.run.plan import RunPlan, load_prompts
from skillmix.run.regrade import grader_backend
from skillmix.run.store import RunStore

STUDENT = ModelEntry(model="imported/calibration-set", name="calibration set")


@dataclass(frozen=True)
class Calibration:
    plan: RunPlan
    answers: dict[str, CalibrationAnswer]  # by item id


def calibration_items(
    answers: list[CalibrationAnswer],
) -> dict[str, tuple[Item, CalibrationAnswer]]:
    """One item per answer, numbered per k in the set's order."""
    found: dict[str, tuple[Item, CalibrationAnswer]] = {}
    counts: dict[int, int] = {}
    for answer in answers:
        index = counts.get(answer.k, 0)
        counts[answer.k] = index + 1
        item = Item(
            item_id=f"k{answer.k}-{index:05d}",
            k=answer.k,
            index=index,
            skills=answer.skills,
            topic=answer.topic,
            has_common_skill=False,  # every answer counts: the set is about the grader
        )
        found[item.item_id] = (item, answer)
    return found


def calibration_plan(
    answers_file: Path,
    skills: Path,
    topics: Path,
    grader: ExtraGrader,
    out: Path,
    grader_prompt: Path | None = None,
) -> Calibration:
    catalog = load_catalog(skills, topics)
    answers = load_calibration_set(answers_file, catalog)
    items = calibration_items(answers)
    ks = sorted({item.k for item, _ in items.values()})
    config = RunConfig(
        name=f"calibration of {grader.entry.label}",
        output_dir=out,
        catalog=CatalogPaths(skills=skills, topics=topics),
        prompts=PromptPaths(grader=grader_prompt),
        k=ks,
        items_per_k=max(sum(item.k == k for item, _ in items.values()) for k in ks),
        gradings=grader.gradings,
        students=[STUDENT],
        grader=grader.entry,
        common_skills=CommonSkills.KEEP,
    )
    backend = grader_backend(grader.entry)
    prompts = load_prompts(config.prompts)
    planned = [item for item, _ in items.values()]
    plan = RunPlan(config, answers_file, catalog, planned, prompts, [], backend)
    return Calibration(plan, {item_id: answer for item_id, (_, answer) in items.items()})


def open_calibration(calibration: Calibration) -> RunStore:
    """The calibration's run store, with the set's answers stored as the student's."""
    store = open_run(calibration.plan)
    for item_id, answer in calibration.answers.items():
        record = GenerationRecord(
            student=STUDENT.label,
            item_id=item_id,
            gen=0,
            status=GenerationStatus.OK,
            answer=answer.answer,
        )
        store.put_generation(record)
    return store
