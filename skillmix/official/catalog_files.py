"""The official repository's catalog formats written (read in skillmix.catalog.official_files),
and our YAML lists written from either."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from skillmix.catalog import Skill, Topic
from skillmix.catalog.official_files import OFFICIAL_COLUMNS
from skillmix.outputs import write_file, write_text


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
