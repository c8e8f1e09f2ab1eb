"""A watchdog over child processes that would outlive a SIGKILLed skillmix (Linux only).

vLLM runs its engine in child processes (EngineCore, Worker), each holding the model and its
KV cache; a resumed run would then find less memory. The watchdog is a small process of its
own that kills them if this process dies without standing it down.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

# Reads its stdin until EOF: "stop" first means a clean shutdown; a bare EOF means the process
# that started it died (a SIGKILL runs no cleanup), so it SIGKILLs the engine processes, each
# given as PID:START_TIME (the start time guards against a reused PID).
WATCHDOG = """
import os, signal, sys
told = sys.stdin.read()
if told.strip() != "stop":
    for arg in sys.argv[1:]:
        pid, start = arg.split(":")
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == start:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
"""


def _process_table() -> dict[int, tuple[int, str]]:
    """Linux: every process as pid -> (parent pid, start time), from /proc."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()  # after "pid (name)"
        table[int(entry)] = (int(fields[1]), fields[19])
    return table


def descendants() -> dict[int, str]:
    """Linux: this process's descendants, as pid -> start time."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, str] = {}
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = table[child][1]
                todo.append(child)
    return found


class EngineWatchdog:
    """Kills an engine's processes if this process dies without shutting the engine down."""

    def __init__(self, processes: dict[int, str]):
        arguments = [f"{pid}:{start}" for pid, start in sorted(processes.items())]
        self.process = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the terminal is not for it
        )

    @classmethod
    def around(cls, before: dict[int, str]) -> EngineWatchdog | None:
        """A watchdog over the processes started since `before` was taken, if any."""
        started = {pid: t for pid, t in descendants().items() if before.get(pid) != t}
        return cls(started) if started else None

    def stop(self) -> None:
        """Stand down: the engine is being shut down normally."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.write(b"stop")
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
