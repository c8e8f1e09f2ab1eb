"""The official repository's catalog files, read with their text exactly as written.

skills.csv columns: category, skill, definition, example, comments, status, added by.
Rows whose status is remove / in review / maybe are not part of the catalog. topics.txt has
one topic per line. The official code sends names, definitions and examples as the file has
them (curly quotes, doubled or trailing spaces and all), so they are kept so: `text_notes`
names what a careful author may want to fix, without changing it.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from pydantic import ValidationError

from skillmix.catalog.entries import Skill, Topic
from skillmix.errors import SkillmixError, describe_validation
from skillmix.yamlfile import read_text

OFFICIAL_COLUMNS = ("category", "skill", "definition", "example", "comments", "status", "added by")
DROPPED_STATUS = frozenset({"remove", "in review", "maybe"})
CURLY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})
ODD_SPACING = re.compile(r"\s{2,}|\(\s|\s\)|^\s|\s$")


def is_official_file(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".txt")


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
    values = {key: row.get(key) or "" for key in OFFICIAL_COLUMNS[:4]}
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
    return tuple(Topic(name=line) for line in lines if line.strip())


def matching_form(text: str) -> str:
    """A name as it is matched (never as it is sent): straight quotes, single spaces, no space
    inside parentheses, lower case."""
    text = " ".join(text.translate(CURLY).split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text)).lower()


def text_notes(skill: Skill) -> list[str]:
    """What in a skill's text is kept as written but may be unintended."""
    notes = []
    for field in ("name", "definition", "example"):
        value = getattr(skill, field)
        if ODD_SPACING.search(value):
            notes.append(f"{field} has odd spacing")
        if value != value.translate(CURLY):
            notes.append(f"{field} has curly quotes")
    return notes
