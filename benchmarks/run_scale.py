"""A 100,000-item run, built through the real runner, then read by every reader.

    python benchmarks/run_scale.py [--items 100000] [--store DIR] [--concurrency 64]

1. Build (skipped when DIR already holds a finished run): a fresh child process runs a Skill-Mix
   run of ITEMS items (k = 1..5, ITEMS/5 each; 2 students, G = 1, R = 1: 6 calls per item)
   through skillmix's Runner against the loopback OpenAI server (tests/helpers/wire_servers.py,
   its own process, answering at once). Printed: calls, wall and CPU time, CPU per call, the
   child's peak RSS, the store's size.
2. Read: each reader in a fresh child process, on the store as built: `skillmix report`,
   `export --csv`, `--jsonl` and `--parquet`, `skillmix.load_run` (its frames are built
   when first read: its scores, what the analyses read, then every frame, texts and all),
   `compare` of the two students, and `report --html` (with its pages). Each figure is
   perf_counter around the one call, after `import skillmix` and its CLI, the store file read
   once before the first (a cold disk is not the reader's cost); peak RSS is the child's
   ru_maxrss. For the HTML report: the page's size, and the number and the largest size of
   its item pages.

`--tree DIR` reads with the skillmix of another checkout (a git worktree of an older commit,
say): the baseline of the same store, in the same conditions. Readers it lacks fail alone.
`--only NAME ...` runs those readers only.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ("openai/bench-a", "openai/bench-b")

BUILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from skillmix.run.loop import run_async
from skillmix.run.opening import open_run
from skillmix.run.plan import build_plan
from skillmix.run.runner import Runner
from tests.helpers.wire_servers import running_server
config = json.loads({config!r})
with running_server(latency_ms=0) as server:
    for entry in [*config["students"], config["grader"]]:
        entry["base_url"] = server.base_url + "/v1"
    plan = build_plan(config)
    store = open_run(plan)
    cpu, wall = time.process_time(), time.perf_counter()
    stats = run_async(Runner(plan, store).run())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    store.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"calls": stats.calls, "failed": stats.failed, "wall_s": wall, "cpu_s": cpu,
                  "peak_mb": peak}}))
"""

READ = """
import json, resource, sys, time
sys.path.insert(0, {tree!r})
import skillmix
from skillmix.cli import app
args = json.loads({args!r})
started = time.perf_counter()
if args[0] == "load_run":
    frames = skillmix.load_run({run_dir!r})
    shapes = {{name: getattr(frames, name).shape for name in args[1:]}}
else:
    app(args, standalone_mode=False)
    shapes = {{}}
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak, "shapes": shapes,
                  "source": skillmix.__file__}}))
"""


def run_config(run_dir: Path, items: int, concurrency: int) -> dict[str, object]:
    def entry(model: str) -> dict[str, object]:
        return {"model": model, "max_concurrency": concurrency, "timeout_s": 30}

    return {
        "name": "scale",
        "output_dir": str(run_dir),
        "seed": 0,
        "k": [1, 2, 3, 4, 5],
        "items_per_k": items // 5,
        "generations": 1,
        "gradings": 1,
        "common_skills": "keep",
        "catalog": {
            "skills": str(ROOT / "data/skills.yaml"),
            "topics": str(ROOT / "data/topics.yaml"),
        },
        "students": [
            {**entry(model), "params": {"temperature": 0.7, "max_tokens": 200}}
            for model in STUDENTS
        ],
        "grader": {**entry("openai/bench-judge"), "params": {"temperature": 0, "max_tokens": 200}},
    }


def child(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-4000:])
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def build(run_dir: Path, items: int, concurrency: int) -> str:
    config = json.dumps(run_config(run_dir, items, concurrency))
    found = child(BUILD.format(root=str(ROOT), config=config))
    calls, cpu = int(str(found["calls"])), float(str(found["cpu_s"]))
    size = (run_dir / "run.sqlite").stat().st_size / 1e6
    return (
        f"build: {items} items, {calls} calls ({found['failed']} failed) in "
        f"{float(str(found['wall_s'])):.0f} s wall, {cpu:.0f} s CPU ({1000 * cpu / calls:.2f} ms "
        f"per call, server not included); peak RSS {float(str(found['peak_mb'])):.0f} MB; "
        f"store {size:.0f} MB"
    )


def readers(run_dir: Path, out: Path) -> dict[str, list[str]]:
    a, b = STUDENTS
    run = str(run_dir)
    return {
        "report": ["report", run],
        "export --csv": ["export", run, "--csv", str(out / "x.csv")],
        "export --jsonl": ["export", run, "--jsonl", str(out / "x.jsonl")],
        "export --parquet": ["export", run, "--parquet", str(out / "parquet")],
        "load_run, scores": ["load_run", "scores"],
        "load_run, all": ["load_run", "items", "generations", "gradings", "scores", "points"],
        "compare": ["compare", run, "--a", a, "--b", b],
        "report --html": ["report", run, "--html", str(out / "report.html")],
    }


def warm_up(run_dir: Path) -> float:
    """Read the store file once, so that no reader pays for a cold disk."""
    started = time.perf_counter()
    with (run_dir / "run.sqlite").open("rb") as handle:
        while handle.read(1 << 24):
            pass
    return time.perf_counter() - started


def html_sizes(out: Path) -> str:
    pages = sorted((out / "report_items").glob("page-*.html"))
    largest = max((p.stat().st_size for p in pages), default=0)
    page = (out / "report.html").stat().st_size
    return f"page {page / 1e3:.0f} kB; {len(pages)} item pages, largest {largest / 1e6:.2f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--store", type=Path, default=Path("/tmp/skillmix-run-scale"))
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the skillmix that reads")
    parser.add_argument("--only", nargs="*", help="these readers only (names as printed)")
    args = parser.parse_args()
    run_dir, out = args.store / "run", args.store / "out"
    built = args.store / "built.txt"
    if not built.exists():
        built.write_text(build(run_dir, args.items, args.concurrency))
    print(built.read_text())
    out.mkdir(parents=True, exist_ok=True)
    print(f"store file read once first (into the page cache): {warm_up(run_dir):.1f} s")
    print(f"skillmix read from {args.tree}")
    print(f"{'reader':<18} {'seconds':>8} {'peak MB':>8}")
    for name, command in readers(run_dir, out).items():
        if args.only and name not in args.only:
            continue
        code = READ.format(tree=str(args.tree), args=json.dumps(command), run_dir=str(run_dir))
        try:
            found = child(code)
        except SystemExit as failed:
            print(f"{name:<18} failed: {str(failed).strip().splitlines()[-1]}", flush=True)
            continue
        assert str(found["source"]).startswith(str(args.tree)), found["source"]
        extra = html_sizes(out) if name == "report --html" else ""
        extra += f"{found['shapes']}" if found["shapes"] else ""
        seconds, peak = float(str(found["seconds"])), float(str(found["peak_mb"]))
        print(f"{name:<18} {seconds:>8.2f} {peak:>8.0f}  {extra}", flush=True)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(
        f"(benchmark total {time.perf_counter() - started:.0f} s; "
        f"this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
