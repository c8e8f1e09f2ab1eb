"""Run directories that are not what the commands expect: bad output_dir values, damaged
stores, full disks, output paths that are folders, runs that may only be read. Bad input ends
a command with one `error: FILE: ...` line, exit code 2, no traceback, the run left as it was.
As root chmod stops no write: read-only folders and full disks are real bind and tmpfs mounts
(skipped where mounting is refused), and reading is checked to open nothing for writing."""

from __future__ import annotations

import errno
import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import skillmix
from skillmix.cli import app
from skillmix.errors import SkillmixError
from skillmix.models.scripted import Script, scripted
from skillmix.run.store import DB_NAME, RunStore
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.runs import count_responses, results, snapshot, stored
from tests.helpers.scripts import answering, awarding

STUDENT = "scripted/student"


@contextmanager
def scripts() -> Iterator[tuple[Script, Script]]:
    """The student and the grader of every run here (the grader awards every point)."""
    with (
        scripted("student", answering("Quiet bees work.")) as student,
        scripted("grader", awarding(lambda criterion, answer: 1)) as grader,
    ):
        yield student, grader


def config_of(run_dir: Path, **fields: Any) -> dict[str, Any]:
    fields = {"k": [1, 2], "items_per_k": 6, "grader": model_entry("scripted/grader"), **fields}
    return run_config(run_dir, students=[model_entry(STUDENT)], **fields)


def invoke(args: list[str]) -> Result:
    with scripts():
        return CliRunner().invoke(app, args)


def assert_one_error(result: Result, named: Path) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # no traceback
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {named}: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    run_dir = folder / "run"
    config = write_config(folder / "c.yaml", config_of(run_dir))
    assert invoke(["eval", str(config), "--quiet"]).exit_code == 0
    assert sorted(p.name for p in run_dir.iterdir()) == ["leaderboard.csv", "run.lock", DB_NAME]
    return run_dir


@pytest.fixture
def run_dir(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


# mounts: real read-only folders and full disks for root; skipped where mount is refused
def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextmanager
def mounted(*args: str, target: Path, then: tuple[str, ...] = ()) -> Iterator[Path]:
    try:
        mount(*args, str(target))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"mount is not allowed here ({exc})")
    try:
        if then:
            mount(*then, str(target))
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def read_only(path: Path) -> AbstractContextManager[Path]:
    """`path` (a folder or a file) made read-only in place by a read-only bind mount."""
    return mounted("--bind", str(path), target=path, then=("-o", "remount,ro,bind"))


def small_disk(folder: Path, size: str) -> AbstractContextManager[Path]:
    folder.mkdir()
    return mounted("-t", "tmpfs", "-o", f"size={size}", "tmpfs", target=folder)


def fill(disk: Path) -> None:
    """A file that takes every free byte of the disk."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


# damaged stores x every command that opens one
def garbled(store: Path, keep: float = 0.5, fill: bool = True) -> None:
    """The store cut at `keep` of its size, the rest random bytes (fill) or gone (truncated)."""
    data = store.read_bytes()
    kept = int(len(data) * keep)
    store.write_bytes(data[:kept] + (random.Random(0).randbytes(len(data) - kept) if fill else b""))


def tables_dropped(store: Path) -> None:
    with closing(sqlite3.connect(store)) as db:
        for table in ("items", "generations", "gradings"):
            db.execute(f"DROP TABLE {table}")
        db.commit()


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "random bytes": (lambda s: garbled(s, keep=0), "not a skillmix run store (file is not a"),
    "truncated to half": (lambda s: garbled(s, fill=False), "damaged run store (database disk"),
    "second half garbled": (garbled, "damaged run store ("),  # header and schema still read
    "tables dropped": (tables_dropped, "tables missing: generations, gradings, items"),
}


def command(name: str, run_dir: Path, tmp_path: Path) -> list[str]:
    if name == "eval":
        return ["eval", str(write_config(tmp_path / "c.yaml", config_of(run_dir))), "--quiet"]
    if name.startswith("export"):
        option = name.split()[1]
        return ["export", str(run_dir), option, str(tmp_path / f"out.{option[2:]}")]
    if name == "compare":
        return ["compare", str(run_dir), "--a", STUDENT, "--b", STUDENT]
    return [name, str(run_dir)]


COMMANDS = ["eval", "report", "export --csv", "export --jsonl", "compare"]


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_store_is_named_in_one_line_and_left_untouched(
    run_dir: Path, tmp_path: Path, damage: str, name: str
) -> None:
    spoil, message = DAMAGES[damage]
    spoil(run_dir / DB_NAME)
    args = command(name, run_dir, tmp_path)
    before = snapshot(run_dir)
    line = assert_one_error(invoke(args), run_dir / DB_NAME)
    assert message in line
    assert snapshot(run_dir) == before
    assert not list(tmp_path.glob("out.*")) and not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize("name", COMMANDS[1:])
def test_reading_a_store_that_holds_no_run_yet(run_dir: Path, tmp_path: Path, name: str) -> None:
    """A store whose eval was killed before it created the tables: nothing to read."""
    (run_dir / DB_NAME).write_bytes(b"")
    before = snapshot(run_dir)
    line = assert_one_error(invoke(command(name, run_dir, tmp_path)), run_dir / DB_NAME)
    assert "holds no run yet" in line and snapshot(run_dir) == before


# output_dir
OUTPUT_DIRS = {  # output_dir, the path its error names and what it says (under tmp_path)
    "a file": ("out", "out", "output_dir: is a file, not a directory"),
    "under a file": ("out/run", "out/run", "output_dir: cannot be created: {tmp}/out is a file"),
    "with a folder for a store": ("out", f"out/{DB_NAME}", "not a file"),
}


@pytest.mark.parametrize("case", OUTPUT_DIRS)
def test_an_output_dir_eval_cannot_use_is_refused_before_the_lock(
    tmp_path: Path, case: str
) -> None:
    output_dir, named, message = OUTPUT_DIRS[case]
    if named.endswith(DB_NAME):
        (tmp_path / named).mkdir(parents=True)
    else:
        (tmp_path / "out").write_text("notes")
    config = write_config(tmp_path / "c.yaml", config_of(tmp_path / output_dir))
    before = snapshot(tmp_path)
    line = assert_one_error(invoke(["eval", str(config)]), tmp_path / named)
    assert message.format(tmp=tmp_path) in line
    assert snapshot(tmp_path) == before  # not even run.lock


def test_a_read_only_output_dir_is_refused(run_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", config_of(run_dir))
    fresh = write_config(tmp_path / "new.yaml", config_of(run_dir / "new"))
    with read_only(run_dir):
        line = assert_one_error(invoke(["eval", str(config)]), run_dir)
        new = assert_one_error(invoke(["eval", str(fresh)]), run_dir / "new")
    assert "output_dir: read-only" in line and f"output_dir: read-only ({run_dir})" in new


def test_a_read_only_store_is_refused(run_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", config_of(run_dir))
    before = snapshot(run_dir)
    with read_only(run_dir / DB_NAME):
        assert "read-only" in assert_one_error(invoke(["eval", str(config)]), run_dir / DB_NAME)
    assert snapshot(run_dir) == before


# full disks
def test_a_full_store_is_one_line_and_keeps_what_it_holds(run_dir: Path) -> None:
    """SQLite's own limit on pages makes the store full for real, without a mount."""
    store = RunStore(run_dir)
    try:
        stored = store.generations()
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(SkillmixError) as caught:
            store.set_meta("notes", "x" * 100_000)
    finally:
        store.close()
    message = str(caught.value)
    assert message.startswith(f"{run_dir / DB_NAME}: the disk is full (database or disk is full)")
    with closing(RunStore.open_for_reading(run_dir)) as reread:
        assert reread.generations() == stored and reread.get_meta("notes") is None


def test_eval_on_a_full_disk_stops_in_one_line_and_resumes(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    uninterrupted = write_config(tmp_path / "w.yaml", config_of(whole, k=[1, 2, 3], items_per_k=40))
    assert invoke(["eval", str(uninterrupted), "--quiet"]).exit_code == 0
    with small_disk(tmp_path / "disk", "400k") as disk:
        run_dir = disk / "run"
        config = write_config(tmp_path / "c.yaml", config_of(run_dir, k=[1, 2, 3], items_per_k=40))
        assert "the disk is full" in assert_one_error(
            invoke(["eval", str(config)]), run_dir / DB_NAME
        )
        assert stored(run_dir, "PRAGMA integrity_check") == [("ok",)]
        kept = count_responses(run_dir)
        mount("-o", "remount,size=64m", str(disk))
        with scripts() as (student, grader):
            result = CliRunner().invoke(app, ["eval", str(config), "--quiet"])
        assert result.exit_code == 0, result.output
        total = len(student.requests) + len(grader.requests)
        assert total == count_responses(run_dir) - kept  # no stored call was made again
        pd.testing.assert_frame_equal(results(run_dir), results(whole))


@pytest.mark.parametrize("option", ["--csv", "--jsonl", "--html"])
def test_an_output_to_a_full_disk_leaves_the_old_file_whole(
    run_dir: Path, tmp_path: Path, option: str
) -> None:
    command = "report" if option == "--html" else "export"
    with small_disk(tmp_path / "disk", "64k") as disk:
        out = disk / "out"
        out.write_text("an older export\n")
        fill(disk)
        line = assert_one_error(invoke([command, str(run_dir), option, str(out)]), out)
        assert line.endswith("cannot write (No space left on device)")
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "out"]
        assert out.read_text() == "an older export\n"


def test_report_on_a_full_disk_warns_and_keeps_the_old_leaderboard(
    run_dir: Path, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        on_disk = Path(shutil.copytree(run_dir, disk / "run"))
        fill(disk)
        result = invoke(["report", str(on_disk)])
        board = (on_disk / "leaderboard.csv").read_bytes()
    assert result.exit_code == 0 and "full_marks" in result.stdout
    assert result.stderr.splitlines() == [
        f"warning: {on_disk / 'leaderboard.csv'}: cannot write (No space left on device); "
        "the table above is the report"
    ]
    assert board == (run_dir / "leaderboard.csv").read_bytes()


# output paths that are folders
@pytest.mark.parametrize("option", ["--csv", "--jsonl", "--html"])
def test_an_output_path_that_is_a_folder(run_dir: Path, tmp_path: Path, option: str) -> None:
    (tmp_path / "folder").mkdir()
    args = ["report", str(run_dir)] if option == "--html" else ["export", str(run_dir)]
    result = invoke([*args, option, str(tmp_path / "folder")])
    line = assert_one_error(result, tmp_path / "folder")
    assert line.endswith(f"{option}: is a directory: give a file name")


def test_report_warns_when_leaderboard_csv_cannot_be_written(run_dir: Path) -> None:
    (run_dir / "leaderboard.csv").unlink()
    (run_dir / "leaderboard.csv").mkdir()
    result = invoke(["report", str(run_dir)])
    assert result.exit_code == 0 and "full_marks" in result.stdout
    assert result.stderr.splitlines() == [
        f"warning: {run_dir / 'leaderboard.csv'}: is a directory: give a file name; "
        "the table above is the report"
    ]


# reading needs no write access
def read_everything(run_dir: Path, out: Path) -> dict[str, Any]:
    """What every reading entry point gives for a run; nothing is written under run_dir."""
    from skillmix.results.html import write_html_report

    report = invoke(["report", str(run_dir)])
    export = ["export", str(run_dir), "--csv", str(out / "x.csv"), "--jsonl", str(out / "x.jsonl")]
    exported = invoke(export)
    compared = invoke(["compare", str(run_dir), "--a", STUDENT, "--b", STUDENT])
    for result in (report, exported, compared):
        assert result.exit_code == 0, result.output
    write_html_report(run_dir, out / "x.html", per_page=5)
    return {
        "table": report.stdout.split("leaderboard:")[0],
        "csv": (out / "x.csv").read_text(),
        "jsonl": (out / "x.jsonl").read_text(),
        "compare": compared.stdout,
        "scores": skillmix.load_run(run_dir).scores,
        "rows": skillmix.load_results(run_dir).rows,
        "warnings": report.stderr,
    }


def test_reading_never_opens_the_store_for_writing(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database")
    with closing(RunStore.open_for_reading(run_dir)) as store, refused:
        store.db.execute("INSERT INTO meta VALUES ('notes', 'x')")

    def writing(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a reading command opened the store for writing")

    monkeypatch.setattr(RunStore, "__init__", writing)
    (run_dir / "leaderboard.csv").unlink()  # report writes it: left out of the comparison
    board = snapshot(run_dir)
    read_everything(run_dir, tmp_path)
    assert {k: v for k, v in snapshot(run_dir).items() if k != "leaderboard.csv"} == board


def test_a_read_only_run_reads_as_a_writable_one(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    writable = read_everything(run_dir, tmp_path / "a")
    with read_only(run_dir):
        fixed = read_everything(run_dir, tmp_path / "b")
    assert fixed["warnings"] == (
        f"warning: {run_dir / 'leaderboard.csv'}: cannot write (Read-only file system); "
        "the table above is the report\n"
    )
    for key in ("csv", "jsonl", "compare", "rows"):
        assert fixed[key] == writable[key], key
    assert fixed["table"] == writable["table"]
    pd.testing.assert_frame_equal(fixed["scores"], writable["scores"])


def killed_copy(run_dir: Path, to: Path, *, with_shm: bool) -> Path:
    """A copy of the run as a kill -9 leaves it: a note committed only to the -wal file."""
    with closing(sqlite3.connect(run_dir / DB_NAME, isolation_level=None)) as db:
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("INSERT INTO meta VALUES ('notes', 'only in the WAL')")
        to.mkdir()
        for name in (DB_NAME, f"{DB_NAME}-wal", *([f"{DB_NAME}-shm"] if with_shm else [])):
            shutil.copyfile(run_dir / name, to / name)
    return to


@pytest.mark.parametrize(
    ("folder", "with_shm"), [("writable", False), ("read-only", True), ("read-only", False)]
)
def test_a_killed_run_is_read_with_its_wal(
    run_dir: Path, tmp_path: Path, folder: str, with_shm: bool
) -> None:
    copy = killed_copy(run_dir, tmp_path / "killed", with_shm=with_shm)
    kept = {name: (copy / name).read_bytes() for name in (DB_NAME, f"{DB_NAME}-wal")}
    view = read_only(copy) if folder == "read-only" else nullcontext(copy)
    with view, closing(RunStore.open_for_reading(copy)) as store:  # opened once mounted
        assert store.get_meta("notes") == "only in the WAL" and len(store.generations()) == 12
    assert {name: (copy / name).read_bytes() for name in kept} == kept
