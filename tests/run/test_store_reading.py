"""Reading a run store: what a reader checks (and what it leaves to SQLite as it reads), a
check made once per process while the file is unchanged, records read a chunk at a time, and
the cycle collector paused while they are built."""

from __future__ import annotations

import gc
import random
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

import skillmix
from skillmix.cli import app
from skillmix.errors import SkillmixError
from skillmix.models.scripted import scripted
from skillmix.records import GenerationRecord, GradingRecord, Usage
from skillmix.results.jsonl import export_jsonl, read_jsonl
from skillmix.run import store_reading
from skillmix.run.store import DB_NAME, RunStore
from skillmix.run.store_reading import gc_paused
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.scripts import answering, awarding

STUDENT = "scripted/student"


def config_of(run_dir: Path) -> dict[str, object]:
    students = [model_entry(STUDENT)]
    grader = model_entry("scripted/grader")
    return run_config(run_dir, students=students, k=[1, 2], items_per_k=8, grader=grader)


def invoke(args: list[str]) -> tuple[int, str]:
    with (
        scripted("student", answering("Quiet bees work. " * 40)),
        scripted("grader", awarding(lambda criterion, answer: 1)),
    ):
        result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    run_dir = folder / "run"
    config = write_config(folder / "c.yaml", config_of(run_dir))
    code, output = invoke(["eval", str(config), "--quiet"])
    assert code == 0, output
    return run_dir


@pytest.fixture
def run_dir(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, ...]]]:
    """Each check_store call's skipped tables, in a process that has checked nothing yet."""
    made: list[tuple[str, ...]] = []
    check = store_reading.check_store

    def counted(db: sqlite3.Connection, path: Path, skip: tuple[str, ...] = ()) -> str | None:
        made.append(skip)
        return check(db, path, skip)

    monkeypatch.setattr(store_reading, "CHECKED", {})
    monkeypatch.setattr(store_reading, "check_store", counted)
    yield made


def response_page(store: Path) -> int:
    """A page that holds stored responses and nothing else."""
    with closing(sqlite3.connect(store)) as db:
        try:
            pages = db.execute(
                "SELECT pageno FROM dbstat WHERE name = 'responses' AND pagetype = 'leaf'"
            ).fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table")
        size = int(db.execute("PRAGMA page_size").fetchone()[0])
    assert len(pages) > 2, "the run's responses fill several pages"
    return (int(pages[len(pages) // 2][0]) - 1) * size


def test_a_reader_checks_the_results_and_meets_a_damaged_response_as_it_reads(
    run_dir: Path, tmp_path: Path, checks: list[tuple[str, ...]]
) -> None:
    before = skillmix.load_run(run_dir).scores
    store = run_dir / DB_NAME
    offset = response_page(store)
    with store.open("r+b") as handle:
        handle.seek(offset)
        handle.write(random.Random(0).randbytes(4096))

    code, output = invoke(["report", str(run_dir)])
    assert code == 0, output  # the results' tables are whole
    assert skillmix.load_run(run_dir).scores.equals(before)
    # checked before the damage and once after it, the stored calls left out
    assert checks == [store_reading.CALL_TABLES] * 2

    code, output = invoke(["report", str(run_dir), "--html", str(tmp_path / "r.html")])
    lines = output.strip().splitlines()
    assert code == 2 and lines[-1].startswith(f"error: {store}: damaged run store ("), lines
    assert not (tmp_path / "r.html").exists()

    reading = RunStore.open_for_reading(run_dir)
    keys = [key for g in reading.generations() for key in (g.turn1_key, g.turn2_key)]
    keys += [g.response_key for g in reading.gradings()]
    with pytest.raises(SkillmixError, match="damaged run store"):
        reading.stored_responses(keys)
    reading.close()

    code, output = invoke(["eval", str(write_config(tmp_path / "c.yaml", config_of(run_dir)))])
    assert code == 2 and "damaged run store (" in output  # a run checks every page


def test_an_unchanged_store_is_checked_once_even_beside_a_live_wal(
    run_dir: Path, checks: list[tuple[str, ...]]
) -> None:
    writer = sqlite3.connect(run_dir / DB_NAME, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("INSERT OR REPLACE INTO meta VALUES ('note', 'a')")
    assert (run_dir / f"{DB_NAME}-wal").exists()
    for _ in range(3):
        RunStore.open_for_reading(run_dir).close()
    assert len(checks) == 1
    writer.execute("INSERT OR REPLACE INTO meta VALUES ('note', 'bb')")  # the WAL grows
    RunStore.open_for_reading(run_dir).close()
    assert len(checks) == 2
    writer.close()


def test_records_read_a_chunk_at_a_time_are_the_records(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore.open_for_reading(run_dir)
    whole = store.generations(), store.gradings()
    monkeypatch.setattr(store_reading, "RECORDS_PER_CHUNK", 5)
    chunks = list(store.generation_chunks())
    assert [len(c) for c in chunks[:-1]] == [5] * (len(chunks) - 1) and len(chunks) > 3
    assert [r for c in chunks for r in c] == whole[0]
    assert (store.generations(), store.gradings()) == whole
    out = tmp_path / "run.jsonl"
    lines = export_jsonl(store, out)
    store.close()
    exported = read_jsonl(out)
    assert (exported.generations, exported.gradings) == whole
    assert lines == 1 + len(exported.items) + len(whole[0]) + len(whole[1])


def test_records_share_one_set_of_field_names_and_stay_their_own(run_dir: Path) -> None:
    store = RunStore.open_for_reading(run_dir)
    generations, gradings = store.generations(), store.gradings()
    store.close()
    assert generations[0].model_fields_set == set(GenerationRecord.model_fields)
    assert gradings[-1].model_fields_set == set(GradingRecord.model_fields)
    first, second = gradings[0], gradings[1]
    before = (first.input_tokens, second.input_tokens)
    first.add(Usage(input_tokens=7), 0.5)  # sets the field on the record
    assert (first.input_tokens, second.input_tokens) == (before[0] + 7, before[1])
    assert second.model_fields_set == set(GradingRecord.model_fields)


def test_the_collector_is_paused_only_while_records_are_built() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause holds
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
