"""Reading a run directory's store and results, and running `skillmix eval` in a subprocess."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import skillmix
from tests.helpers.configs import model_entry, run_config
from tests.helpers.paths import ROOT
from tests.helpers.wire_servers import running_server

RESULT_COLUMNS = ["model", "k", "metric", "value", "stderr", "n", "unscored", "failed", "pending"]


def eval_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "skillmix", "eval", str(config), "--quiet"]


def stored(run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def count_responses(run_dir: Path, table: str = "responses") -> int:
    """The rows of a store table (the responses by default); 0 before it exists."""
    if not (run_dir / "run.sqlite").exists():
        return 0
    try:
        return int(stored(run_dir, f"SELECT COUNT(*) FROM {table}")[0][0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under the folder with its sha256 and mtime (catches new -wal/-shm files)."""
    return {
        str(path.relative_to(folder)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder",
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
    }


def tree(root: Path) -> set[str]:
    """Every path under root, relative to it."""
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def results(run_dir: Path) -> pd.DataFrame:
    """The leaderboard's result columns, in a stable order."""
    frame = pd.read_csv(run_dir / "leaderboard.csv")
    return frame[RESULT_COLUMNS].sort_values(["model", "k", "metric"]).reset_index(drop=True)


def graded(run_dir: Path) -> list[tuple[Any, ...]]:
    """Every grading with the answer it graded."""
    return stored(
        run_dir,
        "SELECT g.student, g.item_id, g.gen, g.grading, g.status, g.points, n.answer "
        "FROM gradings g JOIN generations n USING (student, item_id, gen) ORDER BY 1, 2, 3, 4",
    )


def living_in_group(pgid: int) -> list[int]:
    """The processes of a process group that are still running (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[2]) == pgid and stat[0] != "Z":
            found.append(int(entry))
    return found


def wait_until_gone(pgid: int, timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (living := living_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return living


def start_eval(config: Path, **popen: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(eval_command(config), cwd=ROOT, **popen)


def wait_for_responses(
    process: subprocess.Popen[Any],
    run_dir: Path,
    responses: int,
    timeout_s: float = 300,
    table: str = "responses",
) -> None:
    """Until the run has stored `responses` rows of `table` (fails if it ends or times out
    first)."""
    deadline = time.monotonic() + timeout_s
    while count_responses(run_dir, table) < responses:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, f"fewer than {responses} responses in {timeout_s} s"
        time.sleep(0.05)


def kill_after_responses(
    config: Path,
    run_dir: Path,
    responses: int,
    timeout_s: float = 300,
    table: str = "responses",
    **popen: Any,
) -> int:
    """Run `skillmix eval` and SIGKILL it (that process only, as the OOM killer would) once
    `responses` rows of `table` are stored. Returns its pid."""
    process = start_eval(config, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    try:
        wait_for_responses(process, run_dir, responses, timeout_s, table)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    return process.pid


def evaluate_two_students(
    output_dir: Path, name: str, items_per_k: int, students: list[str]
) -> None:
    """A run of two students (the second with top_p 0.5) and a grader named 'judge', all
    `openai/` models served by the loopback wire server: k = 1..3, 2 generations, 3 gradings."""
    with running_server() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKILLMIX_TEST_KEY", "test")
        entry = model_entry(
            "openai/gpt-4o-mini",
            base_url=f"{server.base_url}/v1",
            api_key_env="SKILLMIX_TEST_KEY",
        )
        first, second = students
        config = run_config(
            output_dir,
            name=name,
            seed=1,
            k=[1, 2, 3],
            items_per_k=items_per_k,
            generations=2,
            gradings=3,
            students=[
                {**entry, "name": first},
                {**entry, "name": second, "params": {"top_p": 0.5}},
            ],
            grader={**entry, "name": "judge"},
        )
        skillmix.evaluate(config)
