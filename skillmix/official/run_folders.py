"""Reading the official Skill-Mix code's run folders: round folders, student records.csv files,
graded/ folders, checked for consistency (every problem is one line naming the file and row)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from skillmix.errors import SkillmixError
from skillmix.protocol.item_files import split_skills
from skillmix.records import ChatMessage
from skillmix.yamlfile import NotText, decode_text, long_csv_cells

ROUND_DIR = re.compile(r"k(?P<k>\d+)_s(?P<seed>-?\d+)_v(?P<version>.+)_r(?P<round>\d+)")
GRADED_DIR = re.compile(r"by_(?P<grader>.+)_on_(?P<field>text_\d+)_(?P<n>\d+)_(?P<style>[^_]+)")
GRADED_FIELD = "text_1"  # the official name of the answer extracted from the second reply
RECORDS = "records.csv"
# The turn-2 reply: OpenAI-style students, then open models prompted with [INST] tags.
STUDENT_REPLY_COLUMNS = ("assistant_1", "[/INST]_1")
GRADER_REPLY_COLUMNS = ("assistant_0", "[/INST]_0")
# Where the grader prompt quotes the answer it grades.
SEEN_ANSWER = re.compile(r'The student\'s answer was: "(.*)"\n\nFor reference', re.S)

ItemKey = tuple[int, tuple[str, ...], str]  # k, skills in the cell's order, topic


@dataclass(frozen=True)
class RoundFolder:
    path: Path
    k: int
    seed: int
    version: str
    round: int


@dataclass(frozen=True)
class GradedRow:
    key: ItemKey
    seen_answer: str | None  # the answer as quoted in the grader prompt
    reply: str
    official_points: str  # the points_0 cell


@dataclass(frozen=True)
class GradingFile:
    path: Path
    grader: str
    style: str
    n: int
    rows: list[GradedRow]


@dataclass(frozen=True)
class GenerationRow:
    key: ItemKey
    reply: str | None  # the turn-2 reply
    text_1: str | None  # the official extraction
    turn1: list[ChatMessage] | None = None  # the first turn as sent (system prompt, user_0)
    reply1: str | None = None  # the reply to it (assistant_0)


def turn1_of(row: dict[str, str]) -> tuple[list[ChatMessage] | None, str | None]:
    """The recorded first turn and its reply: `user_0` / `assistant_0` in OpenAI-style records,
    `[INST]_0` / `[/INST]_0` in open models' (None where the records lack them)."""
    user = row.get("user_0", row.get("[INST]_0"))
    if not user:
        return None, None
    system = row.get("system prompt", "")
    messages: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return messages, row.get("assistant_0", row.get("[/INST]_0"))


@dataclass(frozen=True)
class StudentFolder:
    path: Path
    student: str
    folder: RoundFolder
    rows: list[GenerationRow]
    gradings: list[GradingFile]


def read_records(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of an official records.csv (cells can be very long)."""
    if not path.is_file():
        raise SkillmixError(f"no {RECORDS} here", file=path.parent)
    try:
        text = decode_text(path.read_bytes())
        reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
        with long_csv_cells(text):
            rows = list(reader)
        header = list(reader.fieldnames or [])
    except (OSError, NotText, csv.Error) as exc:
        raise SkillmixError(f"unreadable CSV: {exc}", file=path) from None
    missing = [c for c in ("k", "skills", "topic") if c not in header]
    if missing:
        raise SkillmixError(f"unreadable CSV: no column {', '.join(missing)}", file=path)
    for number, row in enumerate(rows, start=1):
        if "\0extra" in row or any(value is None for value in row.values()):
            raise SkillmixError(
                f"unreadable CSV: its cells do not match the {len(header)} columns of the header",
                file=path,
                field=f"row {number}",
            )
    return header, rows


def row_key(row: dict[str, str], k: int, path: Path, number: int) -> ItemKey:
    where = f"row {number}"
    try:
        row_k = int(row["k"].strip())
    except ValueError:
        raise SkillmixError(f"k {row['k']!r} is not a number", file=path, field=where) from None
    if row_k != k:
        raise SkillmixError(f"k={row_k} in a folder for k={k}", file=path, field=where)
    skills = split_skills(row["skills"])  # exact, as the prompts named them
    if len(skills) != k or len(set(skills)) != k:
        raise SkillmixError(
            f"expected {k} distinct skills, found {len(skills)}: {'; '.join(skills)}",
            file=path,
            field=where,
        )
    topic = " ".join(row["topic"].split())
    if not topic:
        raise SkillmixError("the topic is empty", file=path, field=where)
    return k, skills, topic


def describe(key: ItemKey) -> str:
    return f"k={key[0]}, {' + '.join(key[1])} on {key[2]}"


def read_grading(path: Path, k: int) -> GradingFile:
    match = GRADED_DIR.fullmatch(path.name)
    if match is None:
        raise SkillmixError("not a by_<grader>_on_text_1_<n>_<style> grading folder", file=path)
    if match["field"] != GRADED_FIELD:
        raise SkillmixError(
            f"grades {match['field']}, not the answer to the second turn ({GRADED_FIELD})",
            file=path,
        )
    records = path / RECORDS
    header, raw = read_records(records)
    reply_column = next((c for c in GRADER_REPLY_COLUMNS if c in header), None)
    if reply_column is None:
        raise SkillmixError(
            f"no grader reply column ({' or '.join(GRADER_REPLY_COLUMNS)})", file=records
        )
    rows = []
    for number, row in enumerate(raw, start=1):
        seen = SEEN_ANSWER.search(row.get("user_0", "") or row.get("[INST]_0", ""))
        rows.append(
            GradedRow(
                key=row_key(row, k, records, number),
                seen_answer=None if seen is None else seen.group(1),
                reply=row[reply_column],
                official_points=row.get("points_0", ""),
            )
        )
    return GradingFile(path, match["grader"], match["style"], int(match["n"]), rows)


def read_student(path: Path, folder: RoundFolder) -> StudentFolder:
    records = path / RECORDS
    header, raw = read_records(records)
    reply_column = next((c for c in STUDENT_REPLY_COLUMNS if c in header), None)
    if reply_column is None and "text_1" not in header:
        raise SkillmixError(
            f"no second-turn reply ({' or '.join(STUDENT_REPLY_COLUMNS)}) and no text_1 column",
            file=records,
        )
    rows = [
        GenerationRow(
            row_key(row, folder.k, records, number),
            row[reply_column] if reply_column else None,
            row.get("text_1"),
            *turn1_of(row),
        )
        for number, row in enumerate(raw, start=1)
    ]
    graded = path / "graded"
    gradings = []
    if graded.is_dir():
        for sub in sorted(p for p in graded.iterdir() if p.is_dir() and not hidden(p)):
            gradings.append(read_grading(sub, folder.k))
    numbers = [g.n for g in gradings]
    if len(set(numbers)) != len(numbers):
        raise SkillmixError("two grading folders share a grading number", file=graded)
    for grading in gradings:
        check_rows(grading.path / RECORDS, [r.key for r in grading.rows], [r.key for r in rows])
    return StudentFolder(path, path.name, folder, rows, sorted(gradings, key=lambda g: g.n))


def check_rows(path: Path, keys: list[ItemKey], reference: list[ItemKey]) -> None:
    """Each row names the same item as the reference row at its position (a prefix may be kept)."""
    if len(keys) > len(reference):
        raise SkillmixError(
            f"{len(keys)} rows where the generations have {len(reference)}", file=path
        )
    for number, (key, want) in enumerate(zip(keys, reference, strict=False), start=1):
        if key != want:
            raise SkillmixError(
                f"row {number} is ({describe(key)}) where the generations have ({describe(want)})",
                file=path,
            )


def hidden(path: Path) -> bool:
    return path.name.startswith((".", "_"))


def round_folders(sources: list[Path]) -> list[RoundFolder]:
    found: dict[tuple[int, int, str, int], Path] = {}
    for source in sources:
        if not source.is_dir():
            raise SkillmixError("not a folder", file=source)
        candidates = [source] if ROUND_DIR.fullmatch(source.name) else sorted(source.iterdir())
        matched = [p for p in candidates if p.is_dir() and ROUND_DIR.fullmatch(p.name)]
        if not matched:
            raise SkillmixError(
                "no k{K}_s{SEED}_v{VERSION}_r{ROUND} folders of an official run here", file=source
            )
        for path in matched:
            match = ROUND_DIR.fullmatch(path.name)
            assert match is not None
            key = (int(match["k"]), int(match["seed"]), match["version"], int(match["round"]))
            if key in found and found[key].resolve() != path.resolve():
                raise SkillmixError(f"the same round is also in {found[key]}", file=path)
            found[key] = path
    folders = [RoundFolder(path, *key) for key, path in sorted(found.items())]
    first = folders[0]
    for folder in folders:
        if (folder.seed, folder.version) != (first.seed, first.version):
            raise SkillmixError(
                f"seed {folder.seed}, version {folder.version} differ from seed {first.seed}, "
                f"version {first.version} in {first.path}: import each seed and version as its "
                "own run",
                file=folder.path,
            )
    return folders
