"""Items from a file instead of the sampler: a run replays exactly the items it is given.

JSONL (`skills`, names in prompt order, and `topic` per line; a `skillmix export --jsonl` file's
item lines) or CSV (columns `skills` and `topic`, as in the official records.csv); an optional
`k` must agree. Names match the catalog loosely (case, quotes, spacing); items hold its text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.catalog import Catalog, Skill
from skillmix.catalog.official_files import matching_form
from skillmix.errors import SkillmixError
from skillmix.outputs import write_text
from skillmix.protocol.sampler import CommonSkills
from skillmix.records import Item
from skillmix.yamlfile import long_csv_cells, read_text

SUFFIXES = (".jsonl", ".csv")
COLUMNS = ("item_id", "k", "skills", "topic")


class BadRow(ValueError):
    """What is wrong with one row; the reader adds the file and line."""


@dataclass(frozen=True)
class Row:
    line: int
    skills: tuple[str, ...]  # as written
    topic: str
    k: object  # as written; None when the row gives none


def read_items(
    path: Path, catalog: Catalog, *, ks: Sequence[int], items_per_k: int, common: CommonSkills
) -> list[Item]:
    """The first `items_per_k` rows of each k in `ks`, in file order, as items of `catalog`."""
    match = Matcher(catalog, common)
    by_k: dict[int, list[Item]] = {k: [] for k in ks}
    for row in _rows(path):
        try:
            skills, topic = match.row(row, ks)
        except BadRow as exc:
            raise SkillmixError(str(exc), file=path, field=f"line {row.line}") from None
        found = by_k[len(skills)]
        found.append(_item(skills, topic, len(found)))
    for k, found in by_k.items():
        if len(found) < items_per_k:
            raise SkillmixError(
                f"items_per_k is {items_per_k} but the file has {len(found)} with k={k}",
                file=path,
            )
    return [item for k in ks for item in by_k[k][:items_per_k]]


def _item(skills: tuple[Skill, ...], topic: str, index: int) -> Item:
    k = len(skills)
    return Item(
        item_id=f"k{k}-{index:05d}",
        k=k,
        index=index,
        skills=tuple(s.name for s in skills),
        topic=topic,
        has_common_skill=any(s.common for s in skills),
    )


class Matcher:
    """A row's names as the catalog's skills and topic, or why they are not."""

    def __init__(self, catalog: Catalog, common: CommonSkills):
        self.skills = {matching_form(s.name): s for s in catalog.skills}
        self.topics = {matching_form(t.name): t.name for t in catalog.topics}
        self.common = common

    def row(self, row: Row, ks: Sequence[int]) -> tuple[tuple[Skill, ...], str]:
        if not row.skills:
            raise BadRow("no skills")
        _check_k(row, ks)
        skills = tuple(self.skill(name) for name in row.skills)
        twice = next((s.name for i, s in enumerate(skills) if s in skills[:i]), None)
        if twice is not None:
            raise BadRow(f"skill {twice!r} is named twice")
        return skills, self.topic(row.topic)

    def skill(self, name: str) -> Skill:
        skill = self.skills.get(matching_form(name))
        if skill is None:
            raise BadRow(f"unknown skill {name!r}")
        if skill.common and self.common is CommonSkills.SAMPLING:
            raise BadRow(f"{skill.name!r} is a common skill, and common_skills is sampling")
        return skill

    def topic(self, name: str) -> str:
        if not name.strip():
            raise BadRow("the topic is empty")
        topic = self.topics.get(matching_form(name))
        if topic is None:
            raise BadRow(f"unknown topic {name!r}")
        return topic


def _check_k(row: Row, ks: Sequence[int]) -> None:
    k = len(row.skills)
    declared = _declared_k(row.k)
    if declared is not None and declared != k:
        raise BadRow(f"k is {declared} but the row names {k} skills")
    if k not in ks:
        raise BadRow(f"k={k} is not among the config's k values ({', '.join(map(str, ks))})")


def _declared_k(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    raise BadRow(f"k {value!r} is not a number")


def _rows(path: Path) -> list[Row]:
    suffix = _suffix(path)
    if not path.is_file():
        raise SkillmixError("items file not found", file=path)
    text = read_text(path)
    return _jsonl_rows(text, path) if suffix == ".jsonl" else _csv_rows(text, path)


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SkillmixError(f"an items file is {' or '.join(SUFFIXES)}", file=path)
    return suffix


def _jsonl_rows(text: str, path: Path) -> list[Row]:
    rows = []
    for line, raw in enumerate(text.split("\n"), start=1):  # not splitlines: JSON may hold U+2028
        if not raw.strip():
            continue
        try:
            record = _json_object(raw)
            if record.get("table", "item") == "item":
                rows.append(Row(line, _json_skills(record), _json_topic(record), record.get("k")))
        except BadRow as exc:
            raise SkillmixError(str(exc), file=path, field=f"line {line}") from None
    return rows


def _json_object(raw: str) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRow(f"malformed JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise BadRow(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise BadRow("malformed JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise BadRow("expected a JSON object")
    return record


def _json_skills(record: dict[str, Any]) -> tuple[str, ...]:
    if "skills" not in record:
        raise BadRow("missing key 'skills'")
    skills = record["skills"]
    if not isinstance(skills, list) or not all(isinstance(name, str) for name in skills):
        raise BadRow("skills must be a list of names")
    return tuple(skills)


def _json_topic(record: dict[str, Any]) -> str:
    if "topic" not in record:
        raise BadRow("missing key 'topic'")
    if not isinstance(record["topic"], str):
        raise BadRow("topic must be text")
    return record["topic"]


def _csv_rows(text: str, path: Path) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        with long_csv_cells(text):
            header = [cell.strip() for cell in next(reader, [])]
            missing = [column for column in ("skills", "topic") if column not in header]
            if missing:
                raise SkillmixError(
                    f"missing column {', '.join(missing)}", file=path, field="line 1"
                )
            start = reader.line_num + 1
            for cells in reader:
                if cells:
                    rows.append(_csv_row(dict(zip(header, cells, strict=False)), start))
                start = reader.line_num + 1
    except csv.Error as exc:
        where = f"line {reader.line_num}"
        raise SkillmixError(f"unreadable CSV: {exc}", file=path, field=where) from None
    return rows


def _csv_row(cells: dict[str, str], line: int) -> Row:
    return Row(line, split_skills(cells.get("skills", "")), cells.get("topic", ""), cells.get("k"))


def split_skills(cell: str) -> tuple[str, ...]:
    """A skills cell: names separated by commas, or one per line ('a, \\nb, \\nc')."""
    parts = cell.splitlines() if "\n" in cell.strip() else cell.split(",")
    names = (part.strip().removesuffix(",").strip() for part in parts)
    return tuple(name for name in names if name)


def write_items(items: Iterable[Item], path: Path) -> None:
    """The items as an items file (JSONL or CSV by suffix) that `read_items` reads back."""
    rows = [
        {"item_id": i.item_id, "k": i.k, "skills": [*i.skills], "topic": i.topic} for i in items
    ]
    if _suffix(path) == ".jsonl":
        write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    else:
        write_text(path, _csv_text(rows, path))


def _csv_text(rows: list[dict[str, Any]], path: Path) -> str:
    if any("," in name for row in rows for name in row["skills"]):
        raise SkillmixError("a skill name holds a comma: write the items as .jsonl", file=path)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "skills": ", ".join(row["skills"])} for row in rows)
    return out.getvalue()
