"""Import a run made with the official Skill-Mix code into a run store.

The official code writes one folder per generation round, `k{K}_s{SEED}_v{VERSION}_r{ROUND}`,
holding one folder per student: `<student>/records.csv` (one row per item: the two-turn
conversation, `text_1` the answer it extracted from the second reply) and
`<student>/graded/by_{GRADER}_on_text_1_{N}_{STYLE}/records.csv` (the N-th grading of each row:
the grader prompt `user_0`, its reply `assistant_0`, the points it read `points_0`).

Rounds become generations, graded folders become gradings, k values become the k of one run.
Points are read again with our parser and rules, so an imported run reports exactly like one
of ours; costs are unknown (None).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from skillmix.config import RunConfig
from skillmix.errors import SkillmixError, describe_validation
from skillmix.grader import GradingPolicy, final_points
from skillmix.rubric import RubricItem, UnparseableReply, build_rubric, parse_reply
from skillmix.sampler import CommonSkills, Item
from skillmix.store import DB_NAME, GenerationRecord, GradingRecord, RunStore
from skillmix.student import extract_answer

ROUND_DIR = re.compile(r"k(?P<k>\d+)_s(?P<seed>-?\d+)_v(?P<version>.+)_r(?P<round>\d+)")
GRADED_DIR = re.compile(r"by_(?P<grader>.+)_on_(?P<field>text_\d+)_(?P<n>\d+)_(?P<style>[^_]+)")
GRADED_FIELD = "text_1"  # the official name of the answer extracted from the second reply
RECORDS = "records.csv"
PREFIX = "imported"
# The turn-2 reply: OpenAI-style students, then open models prompted with [INST] tags.
STUDENT_REPLY_COLUMNS = ("assistant_1", "[/INST]_1")
GRADER_REPLY_COLUMNS = ("assistant_0", "[/INST]_0")
# Where the grader prompt quotes the answer it grades.
SEEN_ANSWER = re.compile(r'The student\'s answer was: "(.*)"\n\nFor reference', re.S)

ItemKey = tuple[int, tuple[str, ...], str]  # k, skills in the cell's order, topic


@dataclass(frozen=True)
class ImportSummary:
    run_dir: Path
    students: list[str]  # labels, e.g. imported/gpt-4
    ks: list[int]
    items: int  # over all k
    generations: int  # generation records written
    gradings: int  # grading records written
    unscored: int  # gradings our parser could not read and without usable official points
    fallbacks: int  # gradings scored from the official points_0 column
    notes: list[str] = field(default_factory=list)  # missing rounds, partial gradings


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


@dataclass(frozen=True)
class StudentFolder:
    path: Path
    student: str
    folder: RoundFolder
    rows: list[GenerationRow]
    gradings: list[GradingFile]


# reading


def read_records(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of an official records.csv (cells can be very long)."""
    csv.field_size_limit(1 << 30)
    if not path.is_file():
        raise SkillmixError(f"no {RECORDS} here", file=path.parent)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, restkey="\0extra")
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeError, csv.Error) as exc:
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


def parse_skills(cell: str) -> tuple[str, ...]:
    """The official skills cell: names joined by ', ' and line breaks ('a, \\nb, \\nc')."""
    parts = cell.splitlines() if "\n" in cell.strip() else cell.split(",")
    names = []
    for part in parts:
        name = " ".join(part.strip().rstrip(",").split())
        name = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", name))
        if name:
            names.append(name)
    return tuple(names)


def row_key(row: dict[str, str], k: int, path: Path, number: int) -> ItemKey:
    where = f"row {number}"
    try:
        row_k = int(row["k"].strip())
    except ValueError:
        raise SkillmixError(f"k {row['k']!r} is not a number", file=path, field=where) from None
    if row_k != k:
        raise SkillmixError(f"k={row_k} in a folder for k={k}", file=path, field=where)
    skills = parse_skills(row["skills"])
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
            key=row_key(row, folder.k, records, number),
            reply=row[reply_column] if reply_column else None,
            text_1=row.get("text_1"),
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


# grading


def official_points(cell: str, rubric: list[RubricItem]) -> dict[str, int] | None:
    """points_0 mapped by position (skills in order, topic, sense, sentences), if it is whole."""
    try:
        values = [float(v) for v in cell.split(",")] if cell.strip() else []
    except ValueError:
        return None
    if len(values) != len(rubric) or any(v not in (0.0, 1.0) for v in values):
        return None
    return {item.key: int(v) for item, v in zip(rubric, values, strict=True)}


def is_blank(answer: str) -> bool:
    return not answer.strip().strip("*").strip()


@dataclass
class Counts:
    unscored: int = 0
    fallbacks: int = 0


def grading_record(
    student: str,
    item: Item,
    gen: int,
    grader: str,
    grading: int,
    row: GradedRow,
    answer: str,
    counts: Counts,
) -> GradingRecord:
    record = GradingRecord(
        student=student,
        item_id=item.item_id,
        gen=gen,
        grader=grader,
        grading=grading,
        status="scored",
        reply=row.reply,
        response_key=None,
        attempts=1,
        cost_usd=None,
    )
    rubric = build_rubric(item.skills, item.topic)
    if is_blank(answer):  # as our runner does: an empty answer earns nothing, whatever was said
        record.points, record.reason = {r.key: 0 for r in rubric}, "empty answer"
        return record
    try:
        record.grader_points = parse_reply(row.reply, rubric)
    except UnparseableReply as exc:
        fallback = official_points(row.official_points, rubric)
        if fallback is None:
            record.status, record.reason = "unscored", str(exc)
            counts.unscored += 1
            return record
        record.grader_points = fallback
        record.reason = f"points from the official points_0 column; our parser: {exc}"
        counts.fallbacks += 1
    record.points = final_points(record.grader_points, rubric, answer, GradingPolicy())
    return record


def chosen_answer(folder: StudentFolder, index: int, row: GenerationRow) -> str:
    """The answer stored and scored for one generation row.

    The text the grader actually saw (quoted in its prompt) comes first: the official code
    grades `text_1`, its own extraction, which keeps markdown our extract_answer strips
    ('**Answer:** x' -> '** x'), and the sentence rule and naming penalty must judge the text
    that was graded. Without a grading: our extract_answer of the turn-2 reply, then text_1.
    """
    seen: dict[str, Path] = {}
    for grading in folder.gradings:
        quoted = grading.rows[index].seen_answer if index < len(grading.rows) else None
        if quoted is not None:
            seen.setdefault(quoted, grading.path / RECORDS)
    if len(seen) > 1:
        paths = " and ".join(str(p) for p in seen.values())
        raise SkillmixError(f"row {index + 1} was graded on different answers in {paths}")
    if seen:
        return next(iter(seen))
    if row.reply is not None:
        return extract_answer(row.reply)
    return row.text_1 or ""


# the import


def short_hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def import_official_run(sources: list[Path], out: Path) -> ImportSummary:
    """Import official run folders (a `test`-like folder or round folders) into a new run store."""
    if not sources:
        raise SkillmixError("no official run folder given")
    if (out / DB_NAME).exists():
        raise SkillmixError(
            f"already holds a run store ({DB_NAME}): import into a new folder", file=out
        )
    folders = round_folders(sources)
    students: list[StudentFolder] = []
    for folder in folders:
        subs = sorted(p for p in folder.path.iterdir() if p.is_dir() and not hidden(p))
        if not subs:
            raise SkillmixError("no student folders here", file=folder.path)
        students.extend(read_student(sub, folder) for sub in subs)
    grader = the_grader(students, sources[0])
    items = run_items(students)
    config = run_config(sources, out, folders, students, items, grader)
    notes = gaps(students, folders, items, config.gradings)
    # Everything is read and checked: only now is anything written.
    counts = Counts()
    generations, gradings = run_records(students, items, config.grader.label, counts)
    store = RunStore(out)
    try:
        store.put_items(items)
        with store.transaction():
            for generation in generations:
                store.put_generation(generation)
            for grading in gradings:
                store.put_grading(grading)
            store.set_meta("config", config.model_dump_json())
            skills = sorted({s for item in items for s in item.skills})
            topics = sorted({item.topic for item in items})
            store.set_meta("catalog_hash", short_hash({"skills": skills, "topics": topics}))
            # The official prompts of this version, which we do not have as files
            store.set_meta("prompt_hash", f"official:{folders[0].version}")
            store.set_meta("source", json.dumps([str(p) for p in sources]))
            store.set_meta("import_notes", json.dumps(notes))
    finally:
        store.close()
    return ImportSummary(
        run_dir=out,
        students=[s.label for s in config.students],
        ks=config.k,
        items=len(items),
        generations=len(generations),
        gradings=len(gradings),
        unscored=counts.unscored,
        fallbacks=counts.fallbacks,
        notes=notes,
    )


def the_grader(students: list[StudentFolder], source: Path) -> str:
    graders = {(g.grader, g.style): g.path for s in students for g in s.gradings}
    if not graders:
        raise SkillmixError(
            "no graded/by_<grader>_on_text_1_<n>_<style> folders: nothing to score", file=source
        )
    if len(graders) > 1:
        (a, path_a), (b, path_b) = list(graders.items())[:2]
        raise SkillmixError(
            f"grader {b[0]} ({b[1]} style) differs from {a[0]} ({a[1]} style) in {path_a}: "
            "one run has one grader",
            file=path_b,
        )
    return next(iter(graders))[0]


def run_items(students: list[StudentFolder]) -> list[Item]:
    """Items per k in row order: the longest generation file; every other file must agree."""
    items: list[Item] = []
    for k in sorted({s.folder.k for s in students}):
        files = [s for s in students if s.folder.k == k]
        keys = [r.key for r in max(files, key=lambda s: len(s.rows)).rows]
        for s in files:
            check_rows(s.path / RECORDS, [r.key for r in s.rows], keys)
        items.extend(
            Item(
                item_id=f"k{k}-{index:05d}",
                k=k,
                index=index,
                skills=skills,
                topic=topic,
                has_common_skill=False,
            )
            for index, (_, skills, topic) in enumerate(keys)
        )
    return items


def run_config(
    sources: list[Path],
    out: Path,
    folders: list[RoundFolder],
    students: list[StudentFolder],
    items: list[Item],
    grader: str,
) -> RunConfig:
    seed, version = folders[0].seed, folders[0].version
    containers = (s.parent if ROUND_DIR.fullmatch(s.name) else s for s in sources)
    label = "+".join(dict.fromkeys(f"{p.parent.name}/{p.name}" for p in containers))
    ks = sorted({item.k for item in items})
    try:
        return RunConfig.model_validate(
            {
                "name": f"official {label} s{seed} v{version}",
                "output_dir": out,
                "seed": seed,
                "k": ks,
                "items_per_k": max(sum(i.k == k for i in items) for k in ks),
                "generations": max(f.round for f in folders),
                "gradings": max(g.n for s in students for g in s.gradings),
                "students": [{"model": f"{PREFIX}/{name}"} for name in student_names(students)],
                "grader": {"model": f"{PREFIX}/{grader}"},
                "common_skills": CommonSkills.KEEP,  # the official run chose its own items
            }
        )
    except ValidationError as exc:
        where, message = describe_validation(exc)
        raise SkillmixError(f"cannot form a run configuration: {where}: {message}") from None


def student_names(students: list[StudentFolder]) -> list[str]:
    return sorted({s.student for s in students})


def run_records(
    students: list[StudentFolder], items: list[Item], grader: str, counts: Counts
) -> tuple[list[GenerationRecord], list[GradingRecord]]:
    """A generation per student folder row (gen = round - 1), a grading per graded row."""
    item_of = {(item.k, item.index): item for item in items}
    generations: list[GenerationRecord] = []
    gradings: list[GradingRecord] = []
    for s in students:
        student, gen = f"{PREFIX}/{s.student}", s.folder.round - 1
        for index, row in enumerate(s.rows):
            item = item_of[(s.folder.k, index)]
            answer = chosen_answer(s, index, row)
            generations.append(
                GenerationRecord(
                    student=student,
                    item_id=item.item_id,
                    gen=gen,
                    status="empty" if is_blank(answer) else "ok",
                    answer=answer,
                    cost_usd=None,
                )
            )
            gradings.extend(
                grading_record(student, item, gen, grader, g.n - 1, g.rows[index], answer, counts)
                for g in s.gradings
                if index < len(g.rows)
            )
    return generations, gradings


def gaps(
    students: list[StudentFolder], folders: list[RoundFolder], items: list[Item], gradings: int
) -> list[str]:
    """What the official folders lack: rounds, rows, gradings (left pending, never scored)."""
    notes = []
    rounds_of: dict[tuple[str, int], set[int]] = defaultdict(set)
    for s in students:
        rounds_of[(s.student, s.folder.k)].add(s.folder.round)
    ks = sorted({f.k for f in folders})
    for name in student_names(students):
        for k in ks:
            all_rounds = {f.round for f in folders if f.k == k}
            absent = sorted(all_rounds - rounds_of[(name, k)])
            if absent:
                notes.append(f"{name}: no round {', '.join(map(str, absent))} for k={k}")
    rows_of = {k: sum(i.k == k for i in items) for k in ks}
    for s in students:
        if len(s.rows) < rows_of[s.folder.k]:
            notes.append(f"{s.path / RECORDS}: {len(s.rows)} of {rows_of[s.folder.k]} rows")
        have = {g.n for g in s.gradings}
        missing = [str(n) for n in range(1, gradings + 1) if n not in have]
        if missing:
            notes.append(f"{s.path}: grading {', '.join(missing)} missing")
        for g in s.gradings:
            if len(g.rows) < len(s.rows):
                notes.append(f"{g.path / RECORDS}: {len(g.rows)} of {len(s.rows)} rows graded")
    return notes
