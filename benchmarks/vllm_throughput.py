"""Throughput of the vLLM backend against vLLM itself, on the same engine in the same process.

    .venv-vllm/bin/python benchmarks/vllm_throughput.py [--conversations 64] [--max-tokens 64]
                                                        [--dtype bfloat16] [--repeats 3]

The same CONVERSATIONS student turn-1 prompts (built with skillmix's own sampler, catalog and
prompt templates; k = 1, 2, 3 in turn) are decoded greedily with max_tokens MAX_TOKENS:

  (a) raw vLLM: one `llm.chat` call over all of them;
  (b) the backend: every request through `VLLMBackend.generate`, all submitted at once (the
      batcher turns them into engine calls; the sizes of those are printed);
  (c) the runner: every request through `StoredCalls.call`, as the runner makes a phase's calls
      (content key, store lookup, concurrency limiter, retries, the response written to SQLite).

Printed per way: wall time, generated tokens, tokens/s and the ratio to (a); and how many
replies differ from (a) (greedy, and batched the same way: 0 expected). Each way runs REPEATS
times, in turn, after a warm-up (one raw call over all of them: the first batch of a new size
runs about 2x slower); the best run of each counts (the load average is printed: on a shared
2-core machine other work slows single runs). The engine loads once; its options default to
the backend's (bfloat16 on the CPU build).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.catalog import load_catalog
from skillmix.config import ModelEntry, PromptPaths, parse_config
from skillmix.models import BackendSettings, GenerationParams, ModelRequest, create_backend
from skillmix.models.folders import model_folder
from skillmix.models.vllm_engine import (
    SharedEngine,
    VLLMBackend,
    acquire_engine,
    release_engine,
    sampling_params,
)
from skillmix.protocol.sampler import CommonSkills, sample_items
from skillmix.protocol.student import turn1_messages
from skillmix.records import GenerationRecord, Item
from skillmix.run.calls import Call
from skillmix.run.plan import build_plan, load_prompts
from skillmix.run.runner import Runner
from skillmix.run.store import RunStore

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Measure:
    way: str
    wall_s: float
    tokens: int
    texts: list[str]
    note: str = ""

    @property
    def rate(self) -> float:
        return self.tokens / self.wall_s


def conversations(count: int) -> list[tuple[Item, list[Any]]]:
    catalog = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")
    prompts = load_prompts(PromptPaths())
    per_k = -(-count // 3)
    items = sample_items(catalog, seed=0, ks=[1, 2, 3], items_per_k=per_k, common=CommonSkills.KEEP)
    items = sorted(items, key=lambda item: (item.index, item.k))[:count]
    return [(item, list(turn1_messages(item, catalog, prompts, None))) for item in items]


def raw_chat(engine: SharedEngine, requests: list[ModelRequest]) -> Measure:
    llm = engine.llm
    params = [sampling_params(request, engine.defaults) for request in requests]
    started = time.perf_counter()
    outputs = llm.chat([r.messages for r in requests], sampling_params=params, use_tqdm=False)
    wall = time.perf_counter() - started
    tokens = sum(len(output.outputs[0].token_ids) for output in outputs)
    return Measure("(a) raw llm.chat", wall, tokens, [output.outputs[0].text for output in outputs])


def counting_chat(engine: SharedEngine, sizes: list[int]) -> Callable[[], None]:
    """Record the size of each llm.chat call; returns the undo."""
    real = engine.llm.chat

    def chat(messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(messages))
        return real(messages, *args, **kwargs)

    engine.llm.chat = chat
    return lambda: setattr(engine.llm, "chat", real)


def measured(
    engine: SharedEngine,
    label: str,
    run: Callable[[], Coroutine[Any, Any, tuple[float, list[Any]]]],
) -> Measure:
    """Run `run` (it returns its wall time and outputs), counting the engine calls it makes."""
    sizes: list[int] = []
    undo = counting_chat(engine, sizes)
    try:
        wall, outputs = asyncio.run(run())
    finally:
        undo()
    tokens = sum(output.usage.output_tokens for output in outputs)
    texts = [output.text for output in outputs]
    return Measure(label, wall, tokens, texts, f"engine calls {sizes}")


def through_backend(
    engine: SharedEngine, requests: list[ModelRequest], options: dict[str, Any]
) -> Measure:
    async def run() -> tuple[float, list[Any]]:
        backend = create_backend("vllm/smollm2", BackendSettings(options=options))
        assert isinstance(backend, VLLMBackend)
        try:
            started = time.perf_counter()
            outputs = await asyncio.gather(*(backend.generate(r) for r in requests))
            return time.perf_counter() - started, outputs
        finally:
            await backend.aclose()

    return measured(engine, "(b) VLLMBackend.generate", run)


def through_runner(
    engine: SharedEngine,
    pairs: list[tuple[Item, list[Any]]],
    params: GenerationParams,
    options: dict[str, Any],
) -> Measure:
    """Every request through StoredCalls.call, the runner's path for one call, all at once."""
    student = {"model": "vllm/smollm2", "params": params.model_dump(), "options": options}
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config(
            {
                "name": "bench",
                "output_dir": folder,
                "catalog": {
                    "skills": str(ROOT / "data" / "skills.yaml"),
                    "topics": str(ROOT / "data" / "topics.yaml"),
                },
                "k": [1],
                "items_per_k": 1,
                "students": [student],
                "grader": student,
            },
            "<bench>",
        )
        plan = build_plan(config)
        store = RunStore(Path(folder))
        runner = Runner(plan, store)
        entry: ModelEntry = config.students[0]
        backend = plan.student_backends[0]

        async def run() -> tuple[float, list[Any]]:
            calls = []
            for item, messages in pairs:
                call = Call(item, 0, "turn1")
                record = GenerationRecord(
                    student=entry.label, item_id=item.item_id, gen=0, status="ok"
                )
                request = runner.request(entry, messages, call)
                calls.append(runner.calls.call(entry, backend, request, call, record))
            try:
                started = time.perf_counter()
                replies = await asyncio.gather(*calls)
                return time.perf_counter() - started, [output for _, output in replies]
            finally:
                await backend.aclose()

        try:
            return measured(engine, "(c) StoredCalls.call", run)
        finally:
            store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--dtype", default=None, help="default: the backend's (CPU: bfloat16)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    options: dict[str, Any] = {} if args.dtype is None else {"dtype": args.dtype}
    pairs = conversations(args.conversations)
    params = GenerationParams(temperature=0.0, max_tokens=args.max_tokens)
    requests = [ModelRequest(messages, params, seed=i) for i, (_, messages) in enumerate(pairs)]

    started = time.perf_counter()
    key, engine = acquire_engine(model_folder("vllm", "smollm2"), options)
    print(f"engine loaded in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        import vllm

        print(
            f"vllm {vllm.__version__}, {len(requests)} conversations, max_tokens "
            f"{args.max_tokens}, greedy, engine options {options or 'default'}",
            flush=True,
        )
        raw_chat(engine, requests)
        best: dict[str, Measure] = {}
        for _ in range(args.repeats):
            for measure in (
                raw_chat(engine, requests),
                through_backend(engine, requests, options),
                through_runner(engine, pairs, params, options),
            ):
                print(
                    f"  {measure.way:<26} {measure.wall_s:6.2f} s  {measure.tokens:>5} tokens  "
                    f"{measure.rate:6.1f} tokens/s  load {os.getloadavg()[0]:.1f}  {measure.note}",
                    flush=True,
                )
                if measure.way not in best or measure.rate > best[measure.way].rate:
                    best[measure.way] = measure
        base = best["(a) raw llm.chat"]
        print("best of each:")
        for measure in best.values():
            differ = sum(a != b for a, b in zip(measure.texts, base.texts, strict=True))
            print(
                f"  {measure.way:<26} {measure.rate:6.1f} tokens/s  "
                f"ratio to raw {measure.rate / base.rate:5.3f}  "
                f"replies differing from raw: {differ}/{len(requests)}",
                flush=True,
            )
    finally:
        release_engine(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
