"""Everything a run needs, loaded and validated before the run store is touched."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.catalog import Catalog, load_catalog
from skillmix.catalog.splits import apply_split
from skillmix.config import ModelEntry, PromptPaths, RunConfig, load_config, parse_config
from skillmix.errors import SkillmixError
from skillmix.models import ChatMessage, ModelBackend, create_backend
from skillmix.protocol.grading import grader_messages
from skillmix.protocol.item_files import read_items
from skillmix.protocol.prompts import PromptSet, Template, builtin, load_template
from skillmix.protocol.rubric import RubricItem, RubricWording, build_rubric
from skillmix.protocol.sampler import CommonSkills, sample_items, skill_pool
from skillmix.protocol.student import extract_answer
from skillmix.records import Item


@dataclass
class RunPlan:
    config: RunConfig
    source: Path
    catalog: Catalog
    items: list[Item]
    prompts: PromptSet
    student_backends: list[ModelBackend]  # aligned with config.students
    grader_backend: ModelBackend  # entries with the same model and options share one backend

    def grader_messages(
        self, item: Item, answer: str, rubric: list[RubricItem], structured: bool
    ) -> list[ChatMessage]:
        """The grader's conversation for an answer, with the grader entry's system prompt."""
        system = self.config.grader.system_prompt
        return grader_messages(
            item,
            self.catalog,
            answer,
            rubric,
            self.prompts,
            system_prompt=system,
            structured=structured,
        )

    def rubric(self, item: Item) -> list[RubricItem]:
        return build_rubric(item.skills, item.topic, self.rubric_wording)

    @property
    def rubric_wording(self) -> RubricWording:
        """The configured wording; `auto` is the official one for an official grader prompt file
        (the LLaMA-2 grader's for llama.json), ours otherwise."""
        chosen = self.config.rubric_wording
        grader = self.config.prompts.grader
        if chosen is not RubricWording.AUTO:
            return chosen
        if grader is None or grader.suffix != ".json":
            return RubricWording.SKILLMIX
        return RubricWording.LLAMA2 if grader.stem == "llama" else RubricWording.GPT4

    def extract_answer(self, reply: str) -> str:
        return extract_answer(reply, self.config.answer_extraction)

    @property
    def structured_grading(self) -> bool:
        """Whether the grader is asked for a JSON object of points (else a table)."""
        chosen = self.config.structured_grading
        return self.grader_backend.supports_json_schema if chosen is None else chosen


def _template(path: Path | None, default: str, index: int = 0) -> Template:
    return builtin(default) if path is None else load_template(path, index)


def load_prompts(paths: PromptPaths) -> PromptSet:
    turn1, turn2 = (
        (paths.student, paths.student)
        if paths.student
        else (paths.student_turn1, paths.student_turn2)
    )
    return PromptSet(
        student_turn1=_template(turn1, "student_turn1", 0),
        student_turn2=_template(turn2, "student_turn2", 1 if paths.student else 0),
        grader=_template(paths.grader, "grader"),
        reply_table=_template(paths.reply_format, "reply_table"),
        reply_json=builtin("reply_json"),
    )


def _backend_key(entry: ModelEntry) -> str:
    return json.dumps([entry.model, dataclasses.asdict(entry.settings)], sort_keys=True)


def create_backends(config: RunConfig, source: Path) -> list[ModelBackend]:
    """One backend per distinct model entry, students first, then the grader."""
    fields = [f"students[{i}]" for i in range(len(config.students))] + ["grader"]
    entries = [*config.students, config.grader]
    shared: dict[str, ModelBackend] = {}
    for field, entry in zip(fields, entries, strict=True):
        key = _backend_key(entry)
        if key not in shared:
            try:
                shared[key] = create_backend(entry.model, entry.settings)
            except SkillmixError as exc:
                raise entry_error(exc, source, field) from None
    return [shared[_backend_key(entry)] for entry in entries]


def entry_error(exc: SkillmixError, source: Path, entry_field: str) -> SkillmixError:
    """A backend's error under its entry: field `options.n_ctx` becomes
    `students[0].options.n_ctx`; a message without a field is put under the entry itself."""
    if exc.field is None or exc.file is not None:
        return SkillmixError(str(exc), file=source, field=entry_field)
    message = str(exc).removeprefix(f"{exc.field}: ")
    return SkillmixError(message, file=source, field=f"{entry_field}.{exc.field}")


def build_plan(config: RunConfig | dict[str, Any] | Path | str) -> RunPlan:
    """The plan of a run: from a config file's path, a mapping of config keys or a RunConfig."""
    if isinstance(config, RunConfig):
        return plan_of(config, Path("<config>"))
    if isinstance(config, dict):
        return plan_of(parse_config(config, "<config>"), Path("<config>"))
    return plan_of(load_config(Path(config)), Path(config))


def plan_of(config: RunConfig, source: Path) -> RunPlan:
    catalog = apply_split(
        load_catalog(config.catalog.skills, config.catalog.topics), config.catalog.split, source
    )
    if not catalog.topics:
        raise SkillmixError(
            "the catalog split leaves no topics", file=source, field="catalog.split"
        )
    available = len(skill_pool(catalog, config.common_skills))
    if max(config.k) > available:
        which = "non-common " if config.common_skills is CommonSkills.SAMPLING else ""
        raise SkillmixError(
            f"k={max(config.k)} is larger than the {available} {which}skills in the catalog",
            file=source,
            field="k",
        )
    if config.items is not None:
        items = read_items(
            config.items,
            catalog,
            ks=config.k,
            items_per_k=config.items_per_k,
            common=config.common_skills,
        )
    else:
        items = sample_items(
            catalog,
            seed=config.seed,
            ks=config.k,
            items_per_k=config.items_per_k,
            common=config.common_skills,
        )
    prompts = load_prompts(config.prompts)
    *students, grader = create_backends(config, source)
    return RunPlan(config, source, catalog, items, prompts, students, grader)
