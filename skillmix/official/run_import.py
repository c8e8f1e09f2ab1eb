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

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from skillmix.config import RunConfig
from skillmix.errors import SkillmixError, describe_validation
from skillmix.official.run_folders import (
    RECORDS,
    ROUND_DIR,
    GenerationRow,
    GradedRow,
    RoundFolder,
    StudentFolder,
    check_rows,
    hidden,
    read_student,
    round_folders,
)
from skillmix.protocol.grading import GradingPolicy, is_empty_answer, score_reply
from skillmix.protocol.rubric import RubricItem, RubricWording, build_rubric
from skillmix.protocol.sampler import CommonSkills
from skillmix.protocol.student import AnswerExtraction, extract_answer
from skillmix.records import (
    GenerationRecord,
    GenerationStatus,
    GradingRecord,
    GradingStatus,
    Item,
)
from skillmix.run.store import DB_NAME, RunStore

PREFIX = "imported"


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


def official_points(cell: str, rubric: list[RubricItem]) -> dict[str, int] | None:
    """points_0 mapped by position (skills in order, topic, sense, sentences), if it is whole."""
    try:
        values = [float(v) for v in cell.split(",")] if cell.strip() else []
    except ValueError:
        return None
    if len(values) != len(rubric) or any(v not in (0.0, 1.0) for v in values):
        return None
    return {item.key: int(v) for item, v in zip(rubric, values, strict=True)}


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
    """One official grading, scored by the runner's own path (the official points_0 column
    stands in where our parser cannot read the reply)."""
    rubric = build_rubric(item.skills, item.topic, RubricWording.GPT4)
    score = score_reply(
        row.reply,
        rubric,
        answer,
        GradingPolicy(),
        fallback=official_points(row.official_points, rubric),
        fallback_source="the official points_0 column",
    )
    counts.unscored += score.status == GradingStatus.UNSCORED
    counts.fallbacks += score.from_fallback
    return GradingRecord(
        student=student,
        item_id=item.item_id,
        gen=gen,
        grader=grader,
        grading=grading,
        status=score.status,
        points=score.points,
        grader_points=score.grader_points,
        reason=score.reason,
        reply=row.reply,
        response_key=None,
        attempts=1,
        cost_usd=None,
    )


def chosen_answer(folder: StudentFolder, index: int, row: GenerationRow) -> str:
    """The answer stored and scored for one generation row.

    The text the grader actually saw (quoted in its prompt) comes first: the official code
    grades `text_1`, its own extraction, which keeps the markdown our default extraction strips
    ('**Answer:** x' -> '** x'), and the sentence rule and naming penalty must judge the text
    that was graded. Without a grading: the official extraction of the turn-2 reply, then
    text_1.
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
        return extract_answer(row.reply, AnswerExtraction.OFFICIAL)
    return row.text_1 or ""


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
            put_turn1(store, students, items)
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
                "rubric_wording": RubricWording.GPT4,
                "answer_extraction": AnswerExtraction.OFFICIAL,
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
                    status=GenerationStatus.EMPTY
                    if is_empty_answer(answer)
                    else GenerationStatus.OK,
                    answer=answer,
                    cost_usd=None,
                    turn1_key=turn1_key(student, item, gen) if row.turn1 else None,
                )
            )
            gradings.extend(
                grading_record(student, item, gen, grader, g.n - 1, g.rows[index], answer, counts)
                for g in s.gradings
                if index < len(g.rows)
            )
    return generations, gradings


def turn1_key(student: str, item: Item, gen: int) -> str:
    """The stored first turn of an imported generation (no call made it: the records did)."""
    return f"official:{student}:{item.item_id}:{gen}:turn1"


def put_turn1(store: RunStore, students: list[StudentFolder], items: list[Item]) -> None:
    """Each recorded first turn and its reply, as a stored response (what export-sft and the
    HTML page read a run's conversations from)."""
    item_of = {(item.k, item.index): item for item in items}
    for s in students:
        student, gen = f"{PREFIX}/{s.student}", s.folder.round - 1
        for index, row in enumerate(s.rows):
            if row.turn1 is None:
                continue
            store.put_recorded_response(
                turn1_key(student, item_of[(s.folder.k, index)], gen),
                model=student,
                request={"messages": row.turn1},
                text=row.reply1 or "",
            )


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
