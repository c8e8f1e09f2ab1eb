"""Catalog files: our YAML skill and topic lists, loaded with line numbers for errors (and the
official formats, through official_files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from skillmix.catalog.entries import Catalog, Skill, Topic
from skillmix.catalog.official_files import (
    is_official_file,
    read_official_skills,
    read_official_topics,
)
from skillmix.errors import SkillmixError, describe_validation
from skillmix.yamlfile import compose_yaml


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    if not path.is_file():
        raise SkillmixError("file not found", file=path)
    return compose_yaml(path)


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
    """Both files (ours, or the official skills.csv and topics.txt), with every check
    `skillmix catalog validate` makes."""
    official = is_official_file(skills_path)
    skills = read_official_skills(skills_path) if official else load_skills(skills_path)
    check_skills(skills, skills_path)
    official = is_official_file(topics_path)
    topics = read_official_topics(topics_path) if official else load_topics(topics_path)
    return Catalog(skills=skills, topics=topics)


def naming_conflicts(skills: tuple[Skill, ...]) -> list[tuple[str, str]]:
    """Pairs (a, b) where a's base name occurs inside b's: the naming penalty would hit b for a."""
    return [
        (a.name, b.name)
        for a in skills
        for b in skills
        if a is not b and a.base_name and a.base_name in b.base_name
    ]


def check_skills(skills: tuple[Skill, ...], path: Path) -> None:
    """The checks on a skill list as a whole (each record is checked as it is read)."""
    conflicts = naming_conflicts(skills)
    if conflicts:
        pairs = "; ".join(f"{a!r} inside {b!r}" for a, b in conflicts)
        raise SkillmixError(
            f"names inside other names (naming penalty would misfire): {pairs}",
            file=path,
            field="skills",
        )


def file_kind(path: Path) -> str:
    """'topics' or 'skills', by the file's top-level key."""
    data, _ = _read_yaml(path)
    return "topics" if isinstance(data, dict) and "topics" in data else "skills"
