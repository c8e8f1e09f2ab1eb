"""A labelled calibration set for graders: student answers, each with the correct 0/1 for every
point of its k+3 rubric (data/calibration.yaml is ours), read and checked against a catalog.

Every problem is one SkillmixError naming the file, the line and the answer.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from skillmix.catalog import Catalog
from skillmix.errors import SkillmixError, describe_validation
from skillmix.records import Points
from skillmix.yamlfile import compose_yaml

MIN_K = 2
MAX_K = 6
KEY = "answers"
Entry = tuple[yaml.Node, Any]  # an entry under answers: as the file has it
Loc = tuple[int | str, ...]  # a place in an entry: keys and list indexes


class Design(StrEnum):
    """Which rubric points an answer gets wrong on purpose."""

    ALL_CORRECT = "all correct"  # every point 1
    SKILL_MISSING = "skill missing"  # one skill not illustrated
    SKILL_ONLY_NAMED = "skill only named"  # one skill named, not illustrated
    OFF_TOPIC = "off topic"  # topic 0
    NONSENSE = "nonsense"  # sense 0 (and usually the skills)
    TOO_MANY_SENTENCES = "too many sentences"  # one sentence over the limit
    SUBTLE_BUT_CORRECT = "subtle but correct"  # every point 1, a skill shown indirectly


def _zero_or_one(value: Any) -> Any:
    if type(value) is not int or value not in (0, 1):
        raise ValueError(f"must be 0 or 1, not {value!r}")
    return value


Point = Annotated[int, BeforeValidator(_zero_or_one)]  # never true/false, 1.0 or "1"


class CalibrationLabels(BaseModel):
    """The correct point for each rubric item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skills: dict[str, Point]
    topic: Point
    sense: Point
    sentences: Point


class CalibrationAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    skills: tuple[str, ...]  # catalog names, in prompt order
    topic: str
    answer: str  # the student's answer, as the grader sees it
    design: Design
    labels: CalibrationLabels
    rationale: str  # why each 0 (and any non-obvious 1) is right

    @field_validator("id", "topic", "answer", "rationale")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("skills")
    @classmethod
    def _k_distinct_skills(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not MIN_K <= len(value) <= MAX_K:
            raise ValueError(f"k must be {MIN_K} to {MAX_K}, not {len(value)}")
        repeated = sorted({skill for skill in value if value.count(skill) > 1})
        if repeated:
            raise ValueError(f"repeats {', '.join(map(repr, repeated))}")
        return value

    @field_validator("labels")
    @classmethod
    def _keyed_by_skills(cls, value: CalibrationLabels, info: ValidationInfo) -> CalibrationLabels:
        skills = info.data.get("skills")
        if skills is not None and set(value.skills) != set(skills):
            missing = [s for s in skills if s not in value.skills]
            extra = [s for s in value.skills if s not in skills]
            raise ValueError(f"skills keys must be its skills: missing {missing}, extra {extra}")
        return value

    @property
    def k(self) -> int:
        return len(self.skills)


def expected_points(answer: CalibrationAnswer) -> Points:
    """The labels keyed as the rubric's items are (rubric.RubricItem.key), in rubric order."""
    points = {f"skill:{skill}": answer.labels.skills[skill] for skill in answer.skills}
    points["topic"] = answer.labels.topic
    points["sense"] = answer.labels.sense
    points["sentences"] = answer.labels.sentences
    return points


def _entries(path: Path) -> list[Entry]:
    """Each entry under answers:, with its node (for line numbers)."""
    if not path.is_file():
        raise SkillmixError("file not found", file=path)
    data, node = compose_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get(KEY), list):
        raise SkillmixError(f"expected a top-level '{KEY}:' list", file=path, field=KEY)
    unknown = sorted(str(key) for key in data if key != KEY)
    if unknown:
        raise SkillmixError(f"unknown top-level key {unknown[0]!r}", file=path, field=unknown[0])
    if not data[KEY]:
        raise SkillmixError("no answers", file=path, field=KEY)
    mapping = node.value if isinstance(node, yaml.MappingNode) else []
    lists = [value for key, value in mapping if key.value == KEY]
    if len(lists) != 1 or not isinstance(lists[0], yaml.SequenceNode):  # a merge key gave it
        raise SkillmixError(f"write '{KEY}:' out, not through a YAML merge", file=path, field=KEY)
    return list(zip(lists[0].value, data[KEY], strict=True))


def _line(node: yaml.Node, loc: Loc) -> int:
    """The 1-based line of the deepest part of `loc` the entry's node has (a missing key: its
    mapping's line)."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, v) for k, v in node.value if k.value == str(part)]
            if not pairs:
                break
            line, node = pairs[0][0].start_mark.line + 1, pairs[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _check_names(answer: CalibrationAnswer, catalog: Catalog) -> tuple[Loc, str] | None:
    """(where, message) for a skill or topic the catalog lacks (names match exactly)."""
    skills = {skill.name for skill in catalog.skills}
    for index, skill in enumerate(answer.skills):
        if skill not in skills:
            return ("skills", index), f"unknown skill {skill!r} (names must match the catalog)"
    if answer.topic not in {topic.name for topic in catalog.topics}:
        return ("topic",), f"unknown topic {answer.topic!r} (names must match the catalog)"
    return None


def _error(path: Path, index: int, entry: Entry, loc: Loc, message: str) -> SkillmixError:
    """Bad input at `loc` of entry `index`, on the line of the deepest part of it in the file."""
    node, data = entry
    name = data.get("id") if isinstance(data, dict) else None
    label = f" ({name})" if isinstance(name, str) and name.strip() else ""
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    where = f"line {_line(node, loc)}: {KEY}[{index}]{label}{field}"
    return SkillmixError(message, file=path, field=where)


def load_calibration_set(path: Path, catalog: Catalog) -> list[CalibrationAnswer]:
    """The answers of a calibration file, in file order, every name checked against `catalog`."""
    answers: list[CalibrationAnswer] = []
    first_line: dict[str, int] = {}
    for index, entry in enumerate(_entries(path)):
        try:
            answer = CalibrationAnswer.model_validate(entry[1])
        except ValidationError as exc:
            _, message = describe_validation(exc)
            raise _error(path, index, entry, tuple(exc.errors()[0]["loc"]), message) from None
        problem = _check_names(answer, catalog)
        if problem is not None:
            raise _error(path, index, entry, *problem)
        if answer.id in first_line:
            message = f"duplicate id (first on line {first_line[answer.id]})"
            raise _error(path, index, entry, ("id",), message)
        first_line[answer.id] = _line(entry[0], ("id",))
        answers.append(answer)
    return answers
