"""Harness throughput and CPU cost against a loopback OpenAI-format server.

    python benchmarks/remote_throughput.py [--items 1000] [--concurrency 64 256]

For each concurrency C, with the server answering every request after a fixed 100 ms:
- the harness runs ITEMS items of k=2 (2 student turns + 1 grading each, 3*ITEMS requests);
- a bare asyncio loop over the openai SDK sends the same number of requests at C in flight.
Printed per run: wall time, the active time from the first request to the last response,
requests/s, and the ratio ideal/active where ideal = requests * latency / C.
Then, with 0 ms latency, CPU seconds per request of this whole process (harness vs bare loop).
The server runs in its own process, so its CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skillmix.run.opening import open_run  # noqa: E402
from skillmix.run.plan import build_plan  # noqa: E402
from skillmix.run.runner import Runner  # noqa: E402
from tests.helpers.wire_servers import ServerHandle, running_server  # noqa: E402


@dataclass
class Measure:
    name: str
    requests: int
    wall_s: float
    active_s: float
    cpu_s: float

    def row(self, latency_s: float, concurrency: int) -> str:
        ideal = self.requests * latency_s / concurrency
        ratio = f"{ideal / self.active_s:6.2f}" if latency_s else "     -"
        return (
            f"{self.name:<8} C={concurrency:<4} {self.requests:>5} req  wall {self.wall_s:6.2f}s  "
            f"active {self.active_s:6.2f}s  {self.requests / self.active_s:7.1f} req/s  "
            f"ideal/active {ratio}  cpu/req {1000 * self.cpu_s / self.requests:5.2f} ms"
        )


def harness_config(
    server: ServerHandle, items: int, concurrency: int, out: Path
) -> dict[str, object]:
    entry = {
        "model": "openai/bench",
        "base_url": f"{server.base_url}/v1",
        "max_concurrency": concurrency,
        "timeout_s": 30,
    }
    return {
        "name": "bench",
        "output_dir": str(out),
        "seed": 0,
        "k": [2],
        "items_per_k": items,
        "common_skills": "keep",
        "catalog": {
            "skills": str(ROOT / "data/skills.yaml"),
            "topics": str(ROOT / "data/topics.yaml"),
        },
        "students": [{**entry, "params": {"temperature": 0.7, "max_tokens": 200}}],
        "grader": {**entry, "params": {"temperature": 0, "max_tokens": 200}},
    }


def run_harness(server: ServerHandle, items: int, concurrency: int) -> Measure:
    with tempfile.TemporaryDirectory() as folder:
        plan = build_plan(harness_config(server, items, concurrency, Path(folder) / "run"))
        store = open_run(plan)
        cpu, wall = time.process_time(), time.perf_counter()
        stats = asyncio.run(Runner(plan, store).run())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        first, last = store.db.execute(
            "SELECT MIN(created - latency_s), MAX(created) FROM responses"
        ).fetchone()
        store.close()
    assert stats.failed == 0 and stats.calls == 3 * items, stats
    return Measure("harness", stats.calls, wall, last - first, cpu)


async def bare_loop(base_url: str, requests: int, concurrency: int) -> tuple[float, float]:
    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    limit = asyncio.Semaphore(concurrency)
    spans: list[tuple[float, float]] = []

    async def one(index: int) -> None:
        async with limit:
            started = time.time()
            await client.chat.completions.create(
                model="bench",
                max_tokens=200,
                seed=index,
                messages=[{"role": "user", "content": f"Write about topic {index}. " * 40}],
            )
            spans.append((started, time.time()))

    await asyncio.gather(*(one(i) for i in range(requests)))
    await client.close()
    return min(s for s, _ in spans), max(e for _, e in spans)


def run_bare(server: ServerHandle, requests: int, concurrency: int) -> Measure:
    cpu, wall = time.process_time(), time.perf_counter()
    first, last = asyncio.run(bare_loop(f"{server.base_url}/v1", requests, concurrency))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Measure("bare SDK", requests, wall, last - first, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.items} items")
    for latency_ms in (100, 0):
        with running_server(latency_ms=latency_ms) as server:
            print(f"\nserver latency {latency_ms} ms")
            for concurrency in args.concurrency:
                harness = run_harness(server, args.items, concurrency)
                bare = run_bare(server, harness.requests, concurrency)
                for measure in (harness, bare):
                    print(measure.row(latency_ms / 1000, concurrency))
                print(f"         harness/bare cpu per request: {harness.cpu_s / bare.cpu_s:.2f}x")


if __name__ == "__main__":
    main()
