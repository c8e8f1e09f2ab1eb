"""Throughput of one deployment on several replicas against one endpoint.

    python benchmarks/replicas.py [--calls 96] [--latency-ms 500] [--per-replica 4]
                                  [--replicas 1 2 4]

REPLICAS loopback OpenAI servers (tests/helpers/wire_servers.py), each answering after
LATENCY_MS; the model entry lists their URLs as `base_url` with `max_concurrency` PER_REPLICA,
so at most that many calls are in flight at each endpoint. CALLS chat requests go through the
backend's `generate` all at once. Printed per replica count: wall time, calls/s, the ratio to
the first count and the share of the ideal (calls x latency / (replicas x per-replica)), and
how the calls spread over the endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skillmix.config import ModelEntry  # noqa: E402
from skillmix.models import ChatMessage, GenerationParams, ModelRequest, create_backend  # noqa: E402
from tests.helpers.wire_servers import start_server  # noqa: E402


def request(index: int) -> ModelRequest:
    messages: list[ChatMessage] = [
        {"role": "user", "content": f"Write a sentence about the number {index}."}
    ]
    return ModelRequest(messages=messages, params=GenerationParams(max_tokens=16), seed=index)


async def measure(urls: list[str], calls: int, per_replica: int) -> tuple[float, Counter[str]]:
    entry = ModelEntry(
        model="openai/gpt-4o-mini",
        base_url=urls,  # a list of one too: the same per-endpoint limit
        max_concurrency=per_replica,
        api_key_env="SKILLMIX_BENCH_KEY",
    )
    backend = create_backend(entry.model, entry.settings)
    await backend.generate(request(-1))  # connect first
    started = time.perf_counter()
    outputs = await asyncio.gather(*(backend.generate(request(i)) for i in range(calls)))
    wall = time.perf_counter() - started
    await backend.aclose()
    return wall, Counter(o.replica or urls[0] for o in outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=96)
    parser.add_argument("--latency-ms", type=float, default=500)
    parser.add_argument("--per-replica", type=int, default=4)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    os.environ.setdefault("SKILLMIX_BENCH_KEY", "bench")
    servers = [start_server(latency_ms=args.latency_ms) for _ in range(max(args.replicas))]
    try:
        urls = [f"{s.base_url}/v1" for s in servers]
        print(
            f"{args.calls} calls, {args.latency_ms:.0f} ms latency, {args.per_replica} per replica"
        )
        print(f"{'replicas':>8} {'wall s':>7} {'calls/s':>8} {'ratio':>6} {'ideal':>6}  spread")
        base = None
        for count in args.replicas:
            wall, spread = asyncio.run(measure(urls[:count], args.calls, args.per_replica))
            rate = args.calls / wall
            base = base or rate
            ideal = args.calls * args.latency_ms / 1000 / (count * args.per_replica)
            shares = " ".join(str(spread[u]) for u in urls[:count])
            figures = f"{wall:>7.2f} {rate:>8.1f} {rate / base:>6.2f} {ideal / wall:>6.2f}"
            print(f"{count:>8} {figures}  {shares}")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
