"""The learning-composition experiment in one config (`skillmix learn`):

1. a teacher run (a graded run directory, or an eval config run first);
2. its full-mark answers on the split's training skills and topics exported as fine-tuning data;
3. a fine-tune of the base model on them;
4. an evaluation of base and fine-tuned model on the held-out skills and topics;
5. their paired comparison.

Each step writes what it makes under `work_dir` (the export, the fine-tune and eval configs
it generates, the model folder, the eval run), so every step can also be rerun by hand, and
a rerun of the experiment resumes: the export is rebuilt (it is cheap and deterministic), a
finished fine-tune is kept, the evaluation resumes from its store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillmix.errors import SkillmixError, describe_validation
from skillmix.yamlfile import load_yaml

BASE, FINETUNED = "base", "finetuned"  # the evaluation's student labels


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExportStep(Strict):
    only: Literal["full_marks", "all_skills"] = "full_marks"
    k: list[int] | None = Field(default=None, min_length=1)
    students: list[str] | None = Field(default=None, min_length=1)


class EvaluateStep(BaseModel):
    """An eval config without name, output_dir, students and split (the experiment sets
    them), plus how the two students are served and the fields their entries share."""

    model_config = ConfigDict(extra="allow")

    backend: Literal["hf", "vllm"] = "hf"
    student: dict[str, Any] = {}  # shared entry fields: params, max_concurrency, ...


class Experiment(Strict):
    name: str = Field(min_length=1)
    work_dir: Path | None = None  # default: runs/<name>
    teacher: Path  # a graded run directory, or an eval config (.yaml) that makes it
    split: Path  # a split file: training data from its train part, evaluation on held_out
    export: ExportStep = ExportStep()
    finetune: dict[str, Any]  # `skillmix finetune` settings, without data and output_dir
    evaluate: EvaluateStep

    @property
    def folder(self) -> Path:
        return self.work_dir or Path("runs") / self.name

    @property
    def data_file(self) -> Path:
        return self.folder / "train.jsonl"

    @property
    def model_dir(self) -> Path:
        return self.folder / "model"

    @property
    def eval_dir(self) -> Path:
        return self.folder / "eval"

    @property
    def teacher_is_config(self) -> bool:
        return self.teacher.suffix in (".yaml", ".yml")

    def check(self, source: Path) -> None:
        """The fine-tune settings and the evaluation's fields, checked before anything runs."""
        from skillmix.finetune.settings import parse_settings

        try:
            parse_settings(self.finetune_config(), source)
        except SkillmixError as exc:
            field = f"finetune.{exc.field}" if exc.field else "finetune"
            raise SkillmixError(exc.message, file=source, field=field) from None
        try:
            self.eval_config()
        except SkillmixError as exc:
            raise SkillmixError(exc.message, file=source, field=exc.field) from None

    def finetune_config(self) -> dict[str, Any]:
        taken = sorted({"data", "output_dir"} & set(self.finetune))
        if taken:
            raise SkillmixError(f"set by the experiment: {taken}", field="finetune")
        return {**self.finetune, "data": str(self.data_file), "output_dir": str(self.model_dir)}

    def eval_config(self, teacher_catalog: dict[str, Any] | None = None) -> dict[str, Any]:
        """The evaluation: base and fine-tuned model on the split's held-out part."""
        fields = dict(self.evaluate.model_extra or {})
        taken = sorted({"name", "output_dir", "students"} & set(fields))
        if taken:
            raise SkillmixError(f"set by the experiment: {taken}", field="evaluate")
        catalog = dict(fields.pop("catalog", teacher_catalog or {}))
        if "split" in catalog:
            raise SkillmixError("set by the experiment: the split", field="evaluate.catalog")
        base = str(self.finetune.get("model", ""))
        backend, shared = self.evaluate.backend, self.evaluate.student
        students = [
            {**shared, "model": f"{backend}/{base}", "name": BASE},
            {**shared, "model": f"{backend}/{self.model_dir}", "name": FINETUNED},
        ]
        return {
            "name": f"{self.name}-eval",
            "output_dir": str(self.eval_dir),
            **fields,
            "catalog": {**catalog, "split": {"file": str(self.split), "part": "held_out"}},
            "students": students,
        }


def load_experiment(path: Path) -> Experiment:
    if not path.is_file():
        raise SkillmixError("experiment config not found", file=path)
    try:
        return Experiment.model_validate(load_yaml(path))
    except ValidationError as exc:
        where, message = describe_validation(exc)
        raise SkillmixError(message, file=path, field=where) from None


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    from skillmix.outputs import write_text

    write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path
