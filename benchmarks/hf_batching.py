"""Throughput of the transformers backend, one request at a time versus batched.

    python benchmarks/hf_batching.py [--device cpu|cuda] [--dtype float32|bfloat16]
                                     [--conversations 16] [--max-tokens 64] [--sizes 1 8 16]
                                     [--repeat 1] [--threads N]

The same CONVERSATIONS student turn-1 prompts (built with skillmix's own sampler, catalog and
prompt templates; k = 1, 2, 3 in turn) are decoded greedily with max_tokens MAX_TOKENS through
the backend's async `generate`, all submitted at once, for each max_batch_size in SIZES (1 is
one at a time). Printed per size: wall time, output tokens, tokens/s, the ratio to size 1, and
how many replies differ from the one-at-a-time replies (greedy output must not depend on the
batch, so this should be 0), and the batch sizes that ran. The model is loaded (and warmed up)
before timing starts. With --repeat N the sizes are measured N times, interleaved, and the
fastest wall time of each is kept. The 1-minute load average is printed too: other processes on
the machine distort the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as skillmix.models.hf sets it

import torch

from skillmix.catalog import load_catalog
from skillmix.config import PromptPaths
from skillmix.models import BackendSettings, GenerationParams, ModelRequest, create_backend
from skillmix.models.hf import HFBackend
from skillmix.protocol.sampler import CommonSkills, sample_items
from skillmix.protocol.student import turn1_messages
from skillmix.run.plan import load_prompts

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Measure:
    size: int
    wall_s: float
    cpu_s: float  # CPU time of the whole process (all threads): less distorted by other load
    tokens: int
    texts: list[str]
    batches: dict[int, int]

    @property
    def rate(self) -> float:
        return self.tokens / self.wall_s


def conversations(count: int, max_tokens: int) -> list[ModelRequest]:
    catalog = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")
    prompts = load_prompts(PromptPaths())
    per_k = -(-count // 3)
    items = sample_items(catalog, seed=0, ks=[1, 2, 3], items_per_k=per_k, common=CommonSkills.KEEP)
    items = sorted(items, key=lambda item: (item.index, item.k))[:count]
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens)
    return [
        ModelRequest(turn1_messages(item, catalog, prompts, None), params, seed=i)
        for i, item in enumerate(items)
    ]


async def measure(
    backend: HFBackend, requests: list[ModelRequest]
) -> tuple[float, float, list[str], int]:
    started, cpu = time.perf_counter(), time.process_time()
    outputs = await asyncio.gather(*(backend.generate(r) for r in requests))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu, [o.text for o in outputs], sum(o.usage.output_tokens for o in outputs)


async def run_size(size: int, args: argparse.Namespace, requests: list[ModelRequest]) -> Measure:
    options = {"device": args.device, "max_batch_size": size, "batch_wait_ms": 20}
    if args.threads:
        options["threads"] = args.threads
    if args.dtype:
        options["dtype"] = args.dtype
    backend = create_backend("hf/smollm2", BackendSettings(options=options))
    assert isinstance(backend, HFBackend)
    try:
        warm = ModelRequest(requests[0].messages, GenerationParams(max_tokens=4), seed=0)
        await backend.generate(warm)  # load the model, first-call overheads
        backend.batch_sizes.clear()
        wall, cpu, texts, tokens = await measure(backend, requests)
    finally:
        await backend.aclose()
    return Measure(size, wall, cpu, tokens, texts, dict(sorted(backend.batch_sizes.items())))


def report(result: Measure, base: Measure, count: int, label: str) -> None:
    differ = sum(a != b for a, b in zip(result.texts, base.texts, strict=True))
    print(
        f"{label} max_batch_size {result.size:>3}: {result.wall_s:7.2f} s  {result.tokens:>5} "
        f"tokens  {result.rate:7.1f} tokens/s  x{result.rate / base.rate:5.2f}  "
        f"cpu {result.cpu_s:6.1f} s ({result.tokens / result.cpu_s:5.1f} tokens/cpu-s)  "
        f"differing from one-at-a-time: {differ}/{count}  batches {result.batches}  "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="default: float32 on CPU, bfloat16 on CUDA")
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--repeat", type=int, default=1, help="keep the fastest of N runs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    requests = conversations(args.conversations, args.max_tokens)
    sizes = sorted(set(args.sizes) | {1})
    print(
        f"hf/smollm2 on {args.device} ({args.dtype or 'default dtype'}), torch {torch.__version__}"
        f" with {args.threads or torch.get_num_threads()} threads "
        f"(OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}): {len(requests)} conversations, "
        f"max_tokens {args.max_tokens}, greedy",
        flush=True,
    )
    best: dict[int, Measure] = {}
    for _ in range(args.repeat):
        for size in sizes:
            result = asyncio.run(run_size(size, args, requests))
            if size not in best or result.wall_s < best[size].wall_s:
                best[size] = result
            report(result, best.get(1, result), len(requests), "run ")
    if args.repeat > 1:
        for size in sizes:
            report(best[size], best[1], len(requests), "best")
    return 0


if __name__ == "__main__":
    sys.exit(main())
