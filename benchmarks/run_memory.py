"""Peak memory of a whole run against its item count: does it stay flat?

    python benchmarks/run_memory.py [--items 2500 10000] [--concurrency 64]

For each ITEMS, a fresh child process runs a Skill-Mix run of ITEMS items (k = 2, one student,
one grading each: 3 x ITEMS calls) through the real runner against a loopback OpenAI server
answering at once, and reports its peak RSS (ru_maxrss) and wall time. The items are part of the
plan, so some growth is theirs; the runner itself holds a bounded number of coroutines
(skillmix/run/feed.py) however many items there are.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import asyncio, json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {root!r}); sys.path.insert(0, {benchmarks!r})
from remote_throughput import harness_config
from skillmix.run.opening import open_run
from skillmix.run.plan import build_plan
from skillmix.run.runner import Runner
from tests.helpers.wire_servers import running_server
with running_server(latency_ms=0) as server, tempfile.TemporaryDirectory() as folder:
    plan = build_plan(harness_config(server, {items}, {concurrency}, Path(folder) / "run"))
    store = open_run(plan)
    started = time.perf_counter()
    stats = asyncio.run(Runner(plan, store).run())
    wall = time.perf_counter() - started
    store.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"calls": stats.calls, "wall_s": wall, "peak_mb": peak}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, nargs="+", default=[2500, 10000])
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print(f"{'items':>7} {'calls':>7} {'wall s':>7} {'peak MB':>8}")
    for items in args.items:
        code = CHILD.format(
            root=str(ROOT),
            benchmarks=str(ROOT / "benchmarks"),
            items=items,
            concurrency=args.concurrency,
        )
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        found = json.loads(output.strip().splitlines()[-1])
        print(f"{items:>7} {found['calls']:>7} {found['wall_s']:>7.1f} {found['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
