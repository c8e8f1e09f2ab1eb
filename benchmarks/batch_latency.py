"""A batch-mode run's time against the three-phase floor 3·L, and the batches it used.

    python benchmarks/batch_latency.py [--latency-s 2] [--items-per-k 20] [--sizes 1000 25]

A Skill-Mix run (k = 1..3, ITEMS_PER_K items each, one student, G = 1, R = 1) with student
and grader in batch mode, against the loopback server's Batch API (tests/helpers/
batch_wire.py), each batch completing LATENCY_S after its create. Every item needs three
dependent calls (turn 1, turn 2, a grading), so no run can end before 3·L. Per batch size:
the run's wall time, its ratio to 3·L, the batches made and the requests billed (the server's
counts). `wait_s` 0.2 s, `poll_s` 0.1 s; a smaller size makes more batches, sent sooner.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from typer.testing import CliRunner  # noqa: E402

from skillmix.cli import app  # noqa: E402
from tests.helpers.configs import run_config, write_config  # noqa: E402
from tests.helpers.wire_servers import start_server  # noqa: E402


def measure(latency_s: float, items_per_k: int, size: int) -> tuple[float, dict[str, int]]:
    with start_server(batch_latency_s=latency_s) as server, tempfile.TemporaryDirectory() as tmp:
        batch = {"size": size, "wait_s": 0.2, "poll_s": 0.1}
        model = {"model": "openai/gpt-4o-mini", "base_url": server.base_url + "/v1", "batch": batch}
        run_dir = Path(tmp) / "run"
        config = run_config(
            run_dir, k=[1, 2, 3], items_per_k=items_per_k, students=[model], grader=model
        )
        path = write_config(Path(tmp) / "c.yaml", config)
        started = time.perf_counter()
        result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
        wall = time.perf_counter() - started
        assert result.exit_code == 0, result.output
        counts: dict[str, int] = server.stats()["batches"]
    return wall, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-s", type=float, default=2.0)
    parser.add_argument("--items-per-k", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 25])
    args = parser.parse_args()
    floor = 3 * args.latency_s
    print(f"L = {args.latency_s} s per batch; floor 3·L = {floor:.1f} s")
    print(f"{'size':>6} {'wall s':>8} {'/ 3L':>6} {'batches':>8} {'billed':>7}")
    for size in args.sizes:
        wall, counts = measure(args.latency_s, args.items_per_k, size)
        print(
            f"{size:>6} {wall:>8.2f} {wall / floor:>6.2f} {counts['batches_created']:>8} "
            f"{counts['lines_billed']:>7}",
            flush=True,
        )


if __name__ == "__main__":
    main()
