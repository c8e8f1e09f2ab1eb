"""One process per run directory: a second `eval` gets one line naming the holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.run.lock import HOLDER_NAME, RunLock
from tests.helpers.configs import run_config, write_config

HOLD = """
import sys, time
from pathlib import Path
from skillmix.run.lock import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_eval_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.yaml", run_config(run_dir))
    holder = RunLock(run_dir)
    holder.acquire()
    try:
        before = sorted(p.name for p in run_dir.iterdir())
        result = CliRunner().invoke(app, ["eval", str(config)])
        after = sorted(p.name for p in run_dir.iterdir())
    finally:
        holder.release()
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "another skillmix process" in lines[0], result.stderr
    assert f"pid {os.getpid()}" in lines[0] and str(run_dir) in lines[0]
    assert after == before  # no store was created
    assert not (run_dir / HOLDER_NAME).exists()  # released


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "held"
        refused = CliRunner().invoke(
            app, ["eval", str(write_config(tmp_path / "c.yaml", run_config(tmp_path)))]
        )
        assert refused.exit_code == 2 and f"pid {process.pid}" in refused.stderr
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
    deadline = time.monotonic() + 10
    lock = RunLock(tmp_path)
    while True:  # the kernel has released it: it can be taken again
        try:
            lock.acquire()
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    lock.release()
