"""The skill and topic catalog: YAML files loaded into typed, validated records."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from skillmix.errors import SkillmixError, describe_validation, yaml_syntax_error

CATEGORIES = (
    "rhetorical",
    "literary",
    "logical",
    "cognitive bias",
    "theory of mind",
    "pragmatics",
    "physical knowledge",
)
# Category names used by the official release, mapped onto ours.
CATEGORY_ALIASES = {
    "reasoning": "logical",
    "theory of the mind": "theory of mind",
    "physical": "physical knowledge",
    "bias": "cognitive bias",
}
MAX_LENGTH = {"name": 120, "definition": 600, "example": 1000}


def _plain(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def base_name(skill_name: str) -> str:
    """The part of a skill name before its parenthetical clarification, lower-cased."""
    return skill_name.split("(")[0].strip().lower()


class Skill(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str
    category: str
    definition: str
    example: str
    common: bool = False

    @field_validator("name", "definition", "example")
    @classmethod
    def _not_empty_nor_too_long(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise ValueError("must not be empty")
        limit = MAX_LENGTH[str(info.field_name)]
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long, more than {limit}")
        if info.field_name == "example" and _plain(value) == _plain(
            info.data.get("definition", "")
        ):
            raise ValueError("must illustrate the skill, not repeat its definition")
        return value

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        category = CATEGORY_ALIASES.get(value.lower(), value.lower())
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {value!r} (known: {', '.join(CATEGORIES)})")
        return category

    @property
    def base_name(self) -> str:
        return base_name(self.name)


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str

    @field_validator("name")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value


@dataclass(frozen=True)
class Catalog:
    skills: tuple[Skill, ...]
    topics: tuple[Topic, ...]

    @property
    def content_hash(self) -> str:
        payload = {
            "skills": [s.model_dump() for s in self.skills],
            "topics": [t.name for t in self.topics],
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def skill(self, name: str) -> Skill:
        for skill in self.skills:
            if skill.name == name:
                return skill
        raise KeyError(name)


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    if not path.is_file():
        raise SkillmixError("file not found", file=path)
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        raise yaml_syntax_error(exc, path) from None


def _entries(path: Path, key: str) -> list[tuple[int, Any]]:
    """The list under `key` in a YAML file, each entry with its 1-based line number."""
    data, node = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise SkillmixError(f"expected a top-level '{key}:' list", file=path, field=key)
    lines = [0] * len(data[key])
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key and isinstance(value_node, yaml.SequenceNode):
                lines = [child.start_mark.line + 1 for child in value_node.value]
    return list(zip(lines, data[key], strict=True))


def _where(key: str, index: int, line: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else entry
    label = f" ({name})" if isinstance(name, str) and name else ""
    return f"line {line}: {key}[{index}]{label}"


def load_skills(path: Path) -> tuple[Skill, ...]:
    skills: list[Skill] = []
    seen: dict[str, str] = {}
    for index, (line, entry) in enumerate(_entries(path, "skills")):
        where = _where("skills", index, line, entry)
        try:
            skill = Skill.model_validate(entry)
        except ValidationError as exc:
            field, message = describe_validation(exc)
            raise SkillmixError(message, file=path, field=f"{where}.{field}") from None
        if skill.name.lower() in seen:
            raise SkillmixError(
                f"duplicate skill name (also {seen[skill.name.lower()]})",
                file=path,
                field=f"{where}.name",
            )
        seen[skill.name.lower()] = f"line {line}"
        skills.append(skill)
    if not skills:
        raise SkillmixError("no skills", file=path, field="skills")
    return tuple(skills)


def load_topics(path: Path) -> tuple[Topic, ...]:
    topics: list[Topic] = []
    seen: set[str] = set()
    for index, (line, entry) in enumerate(_entries(path, "topics")):
        where = _where("topics", index, line, entry)
        try:
            topic = Topic.model_validate({"name": entry} if isinstance(entry, str) else entry)
        except ValidationError as exc:
            field, message = describe_validation(exc)
            raise SkillmixError(message, file=path, field=f"{where}.{field}") from None
        if topic.name.lower() in seen:
            raise SkillmixError("duplicate topic name", file=path, field=f"{where}.name")
        seen.add(topic.name.lower())
        topics.append(topic)
    if not topics:
        raise SkillmixError("no topics", file=path, field="topics")
    return tuple(topics)


def load_catalog(skills_path: Path, topics_path: Path) -> Catalog:
    return Catalog(skills=load_skills(skills_path), topics=load_topics(topics_path))


def naming_conflicts(skills: tuple[Skill, ...]) -> list[tuple[str, str]]:
    """Pairs (a, b) where a's base name occurs inside b's: the naming penalty would hit b for a."""
    return [
        (a.name, b.name)
        for a in skills
        for b in skills
        if a is not b and a.base_name and a.base_name in b.base_name
    ]


def file_kind(path: Path) -> str:
    """'topics' or 'skills', by the file's top-level key."""
    data, _ = _read_yaml(path)
    return "topics" if isinstance(data, dict) and "topics" in data else "skills"
