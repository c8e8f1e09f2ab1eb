"""ConceptMix grading throughput against a loopback vision grader, beside the text runner's.

    python benchmarks/conceptmix_grading.py [--items 100] [--concurrency 16 64] [--latency-ms 100]

The loopback server answers every request after a fixed latency L. For each grader
concurrency C:
- a ConceptMix run of ITEMS official-format items per k (k = 1..3, drawn by our seeded
  sampler, one yes/no question per concept) by one `openai-images/` model (256 in flight, so
  images never starve the grader) and an `openai/` grader at C in flight;
- the Skill-Mix runner on the same server, ITEMS items of k = 2 (3 calls each) at C in flight.
Printed: the grading calls, their active span (first grading request to last response, from
the run store), calls/s, and the share of the ideal, ideal = calls * L / C; then the text
runner's share over all its calls. The server runs in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from remote_throughput import Measure, run_harness  # noqa: E402

from skillmix.catalog.concepts import load_concepts  # noqa: E402
from skillmix.config import validated  # noqa: E402
from skillmix.config.conceptmix import ConceptMixConfig  # noqa: E402
from skillmix.protocol.conceptmix.sampler import draw_sets  # noqa: E402
from skillmix.run.conceptmix.opening import open_conceptmix_run  # noqa: E402
from skillmix.run.conceptmix.plan import conceptmix_plan  # noqa: E402
from skillmix.run.conceptmix.runner import ConceptRunner  # noqa: E402
from tests.helpers.wire_servers import ServerHandle, running_server  # noqa: E402

KS = (1, 2, 3)
GRADER = "bench-grader"


def write_items(folder: Path, per_k: int) -> Path:
    """Official-format item files (300_sentences_k={k}.json) drawn by our sampler."""
    catalog = load_concepts(ROOT / "data" / "concepts.yaml")
    for k, draws in draw_sets(catalog, KS, per_k, seed=0).items():
        entries = []
        for index, draw in enumerate(draws, start=1):
            concepts = draw.concepts()
            entries.append(
                {
                    "index": index,
                    "sentence": f"Picture {index}: " + ", ".join(c.value for c in concepts),
                    "categories": [c.category for c in concepts],
                    "skills": [c.value for c in concepts],
                    "question": [f"Does the picture show {c.value}?" for c in concepts],
                }
            )
        (folder / f"300_sentences_k={k}.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def conceptmix_config(
    server: ServerHandle, items: Path, per_k: int, concurrency: int, out: Path
) -> dict[str, object]:
    url = f"{server.base_url}/v1"
    return {
        "name": "bench",
        "suite": "conceptmix",
        "output_dir": str(out),
        "concepts": str(ROOT / "data" / "concepts.yaml"),
        "items": {"official": str(items)},
        "k": list(KS),
        "items_per_k": per_k,
        "models": [
            {
                "model": "openai-images/bench-t2i",
                "base_url": url,
                "max_concurrency": 256,
                "options": {"size": "64x64"},
            }
        ],
        "grader": {"model": f"openai/{GRADER}", "base_url": url, "max_concurrency": concurrency},
    }


def run_conceptmix(server: ServerHandle, per_k: int, concurrency: int) -> Measure:
    with tempfile.TemporaryDirectory() as folder:
        items = Path(folder) / "items"
        items.mkdir()
        write_items(items, per_k)
        raw = conceptmix_config(server, items, per_k, concurrency, Path(folder) / "run")
        source = Path(folder) / "bench.yaml"
        plan = conceptmix_plan(validated(ConceptMixConfig, raw, source), source)
        concepts = open_conceptmix_run(plan, new_run=False)
        cpu, wall = time.process_time(), time.perf_counter()
        stats = asyncio.run(ConceptRunner(plan, concepts).run())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        calls, first, last = concepts.store.db.execute(
            "SELECT COUNT(*), MIN(created - latency_s), MAX(created) FROM responses "
            "WHERE model = ?",
            (f"openai/{GRADER}",),
        ).fetchone()
        concepts.store.close()
    assert stats.failed == 0, stats
    return Measure("grading", calls, wall, last - first, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100, help="items per k (k = 1..3)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--latency-ms", type=float, default=100)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, latency {args.latency_ms} ms")
    with running_server(latency_ms=args.latency_ms) as server:
        for concurrency in args.concurrency:
            grading = run_conceptmix(server, args.items, concurrency)
            text = run_harness(server, args.items, concurrency)
            for measure in (grading, text):
                print(measure.row(latency, concurrency))
            share = (grading.requests * latency / concurrency) / grading.active_s
            text_share = (text.requests * latency / concurrency) / text.active_s
            print(f"         share of ideal: grading {share:.2f}, text runner {text_share:.2f}")


if __name__ == "__main__":
    main()
