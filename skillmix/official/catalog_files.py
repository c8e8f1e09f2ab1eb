"""The official repository's catalog formats: skills.csv and topics.txt, read and written.

skills.csv columns: category, skill, definition, example, comments, status, added by.
Rows whose status is remove / in review / maybe are not part of the catalog.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from skillmix.catalog import Skill, Topic
from skillmix.errors import SkillmixError, describe_validation
from skillmix.outputs import write_file, write_text
from skillmix.yamlfile import read_text

OFFICIAL_COLUMNS = ("category", "skill", "definition", "example", "comments", "status", "added by")
DROPPED_STATUS = frozenset({"remove", "in review", "maybe"})
CURLY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


def _clean(text: str) -> str:
    """Straight quotes, single spaces, no space before ')' (a stray one in official names)."""
    text = " ".join(text.translate(CURLY).split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))


def read_official_skills(path: Path) -> tuple[Skill, ...]:
    if not path.is_file():
        raise SkillmixError("file not found", file=path)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    try:
        missing = [c for c in OFFICIAL_COLUMNS[:4] if c not in (reader.fieldnames or [])]
        if missing:
            raise SkillmixError(f"missing columns: {', '.join(missing)}", file=path, field="line 1")
        return tuple(_skill(row, reader.line_num, path) for row in reader if _kept(row))
    except csv.Error as exc:
        raise SkillmixError(
            f"unreadable CSV: {exc}", file=path, field=f"line {reader.line_num}"
        ) from None


def _kept(row: dict[str, str]) -> bool:
    return (row.get("status") or "").strip().lower() not in DROPPED_STATUS


def _skill(row: dict[str, str], line: int, path: Path) -> Skill:
    values = {key: _clean(row.get(key) or "") for key in OFFICIAL_COLUMNS[:4]}
    values["name"] = values.pop("skill")
    try:
        return Skill.model_validate(values)
    except ValidationError as exc:
        field, message = describe_validation(exc)
        where = f"line {line} ({(row.get('skill') or '').strip()}).{field}"
        raise SkillmixError(message, file=path, field=where) from None


def read_official_topics(path: Path) -> tuple[Topic, ...]:
    if not path.is_file():
        raise SkillmixError("file not found", file=path)
    lines = read_text(path).splitlines()
    return tuple(Topic(name=_clean(line)) for line in lines if line.strip())


def write_official_skills(skills: tuple[Skill, ...], path: Path) -> None:
    def write(target: Path) -> None:
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(OFFICIAL_COLUMNS)
            for s in skills:
                writer.writerow([s.category, s.name, s.definition, s.example, "", "keep", ""])

    write_file(path, write)


def write_official_topics(topics: tuple[Topic, ...], path: Path) -> None:
    write_text(path, "".join(f"{t.name}\n" for t in topics))


def _dump(data: dict[str, Any], header: str, path: Path) -> None:
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    write_text(path, f"# {header}\n{body}")


def write_skills_yaml(skills: tuple[Skill, ...], path: Path, source: str) -> None:
    _dump({"skills": [s.model_dump() for s in skills]}, f"Imported from {source}", path)


def write_topics_yaml(topics: tuple[Topic, ...], path: Path, source: str) -> None:
    _dump({"topics": [t.name for t in topics]}, f"Imported from {source}", path)
