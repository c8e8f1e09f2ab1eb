"""The README's quickstart command, timed from a fresh clone with an empty pip cache.

    python benchmarks/first_start.py [--commit HEAD]

Clones this repository (at COMMIT) into a temporary folder, takes the one command in the
README's Quickstart code block, and runs it there under bash with PIP_CACHE_DIR pointing at a
new, empty folder (so llama-cpp-python compiles from its sdist, as on a fresh machine). Prints
the wall time of the whole command and of its steps as pip and skillmix report them
(the time each line of output first appeared), and whether it ended with the leaderboard.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKS = ("Building wheel for llama-cpp-python", "Successfully installed", "leaderboard:")


def quickstart_command(readme: str) -> str:
    section = readme.split("## Quickstart", 1)[1]
    found = re.search(r"```bash\n(.+?)\n```", section, re.S)
    if found is None:
        raise SystemExit("no bash block under the README's Quickstart heading")
    return found.group(1).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="first-start-") as folder:
        clone, cache = Path(folder) / "clone", Path(folder) / "pip-cache"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", args.commit], check=True)
        command = quickstart_command((clone / "README.md").read_text(encoding="utf-8"))
        print(f"command: {command}\n(commit {args.commit}, empty PIP_CACHE_DIR)", flush=True)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())}
        env |= {"PIP_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        process = subprocess.Popen(
            ["bash", "-c", command], cwd=clone, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert process.stdout is not None
        seen: dict[str, float] = {}
        tail: list[str] = []
        for line in process.stdout:
            tail = [*tail[-20:], line.rstrip()]
            for mark in MARKS:
                if mark in line and mark not in seen:
                    seen[mark] = time.perf_counter() - started
        code = process.wait()
        total = time.perf_counter() - started
    for mark, at in seen.items():
        print(f"{at:7.0f} s  first '{mark}'")
    print(f"{total:7.0f} s  in all ({total / 60:.1f} min), exit status {code}")
    if code != 0:
        print("\n".join(tail))
    return code


if __name__ == "__main__":
    sys.exit(main())
