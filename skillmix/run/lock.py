"""One process at a time per run directory: `eval` holds a lock on it while it runs, so a
second process is refused (in one line naming the holder) instead of paying for the same calls.

The lock is an OS file lock (released by the kernel when its process dies, even by kill -9);
beside it a small file names the holder, for the refusal's message.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import filelock

from skillmix.errors import SkillmixError

LOCK_NAME = "run.lock"
HOLDER_NAME = "run.lock.holder"


class RunLock:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self._lock = filelock.FileLock(run_dir / LOCK_NAME, thread_local=False)

    def acquire(self) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise SkillmixError(
                f"another skillmix process holds this run directory ({self.holder()}): wait "
                "for it to finish, or stop it and rerun",
                file=self.run_dir,
            ) from None
        except OSError as exc:
            raise SkillmixError(
                f"cannot use as a run directory: {exc}", file=self.run_dir
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv[:4]),
        }
        (self.run_dir / HOLDER_NAME).write_text(json.dumps(holder), encoding="utf-8")

    def holder(self) -> str:
        try:
            found = json.loads((self.run_dir / HOLDER_NAME).read_text(encoding="utf-8"))
            pid, host, started = found["pid"], found["host"], found["started"]
            return f"pid {pid} on {host}, since {started}: {found['command']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def release(self) -> None:
        if self._lock.is_locked:
            (self.run_dir / HOLDER_NAME).unlink(missing_ok=True)
            self._lock.release()
