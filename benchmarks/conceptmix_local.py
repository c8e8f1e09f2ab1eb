"""Throughput of ConceptMix's in-process backends on CPU, batched against one call at a time.

    python benchmarks/conceptmix_local.py [--images 16] [--questions 32] [--sizes 1 4 8]
                                          [--steps 2] [--side 32] [--threads N]

Two tiny random models built in code (tests/helpers/tiny_pipelines.py, tiny_vlm.py) and saved
to a temporary folder:

- `diffusers/` (a tiny SD pipeline): IMAGES prompts, each one image at its own seed, all
  submitted at once through the backend's async `generate`, for each max_batch_size in SIZES
  (1 is one at a time). Printed: wall time, images/s, the ratio to size 1, and how many images
  differ from size 1's in any byte. Calls are padded to max_batch_size, so within one size an
  image never depends on its batch; across sizes the batch shape differs, and kernel rounding
  (about 1e-6) may flip a pixel: max_batch_size is part of an image's cache key for that.
- `hf/` (a tiny LLaVA) grading: QUESTIONS yes/no questions, one token with logprobs, each with
  one of the drawn images, for each max_batch_size in SIZES. Printed: wall time, questions/s,
  the ratio to size 1, and how many replies differ from size 1's.

The models load (and warm up) before timing. Tiny models make the per-call overhead weigh far
more than on a real model, so these ratios are a floor for what batching buys on real weights.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as skillmix.models.hf sets it

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from skillmix.config import ModelEntry  # noqa: E402
from skillmix.models import ChatMessage, GenerationParams, ModelRequest, create_backend  # noqa: E402
from skillmix.models.base import ModelBackend, ModelOutput  # noqa: E402
from skillmix.models.images import image_part  # noqa: E402
from tests.helpers.tiny_pipelines import save_tiny_sd  # noqa: E402
from tests.helpers.tiny_vlm import save_tiny_vlm  # noqa: E402

WORDS = ("red", "cat", "two", "apples", "dog", "on", "car", "blue", "tiny", "house", "cartoon")
GRADING = GenerationParams(max_tokens=1, temperature=0, top_logprobs=5)


def prompts(count: int) -> list[str]:
    return [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(3 + i % 5)) for i in range(count)]


def backend(model: str, **options: object) -> ModelBackend:
    entry = ModelEntry(model=model, options={"device": "cpu", **options})
    return create_backend(entry.model, entry.settings)


async def timed(
    found: ModelBackend, requests: list[ModelRequest]
) -> tuple[float, list[ModelOutput]]:
    await found.generate(requests[0])  # load and warm up
    started = time.perf_counter()
    outputs = await asyncio.gather(*(found.generate(r) for r in requests))
    wall = time.perf_counter() - started
    await found.aclose()
    return wall, list(outputs)


def image_requests(count: int) -> list[ModelRequest]:
    return [
        ModelRequest(messages=[{"role": "user", "content": p}], params=GenerationParams(), seed=i)
        for i, p in enumerate(prompts(count))
    ]


def question_requests(count: int, pictures: list[bytes]) -> list[ModelRequest]:
    requests = []
    for i, prompt in enumerate(prompts(count)):
        content: list[ChatMessage] = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"Does the image show {prompt}? Respond Yes or No."},
                    image_part(pictures[i % len(pictures)]),
                ],
            }
        ]
        requests.append(ModelRequest(messages=content, params=GRADING, seed=0))
    return requests


def report(
    kind: str, unit: str, sizes: list[int], results: dict[int, tuple[float, list[str]]]
) -> None:
    base_wall, base = results[sizes[0]]
    print(f"\n{kind}")
    print(f"{'batch':>5} {'wall s':>8} {unit + '/s':>12} {'ratio':>6} {'differ':>6}")
    for size in sizes:
        wall, outputs = results[size]
        differ = sum(a != b for a, b in zip(outputs, base, strict=True))
        rate = len(outputs) / wall
        print(f"{size:>5} {wall:>8.2f} {rate:>12.1f} {base_wall / wall:>6.2f} {differ:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {load:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        pipeline, grader = save_tiny_sd(Path(folder) / "sd"), save_tiny_vlm(Path(folder) / "vlm")
        drawn: dict[int, tuple[float, list[bytes]]] = {}
        for size in args.sizes:
            found = backend(
                f"diffusers/{pipeline}",
                steps=args.steps,
                size=f"{args.side}x{args.side}",
                max_batch_size=size,
                batch_wait_ms=50,
            )
            wall, outputs = asyncio.run(timed(found, image_requests(args.images)))
            drawn[size] = (wall, [o.images[0].data for o in outputs])
        pictures = drawn[args.sizes[0]][1]
        answered: dict[int, tuple[float, list[str]]] = {}
        for size in args.sizes:
            found = backend(f"hf/{grader}", max_batch_size=size, batch_wait_ms=50)
            wall, outputs = asyncio.run(timed(found, question_requests(args.questions, pictures)))
            answered[size] = (wall, [o.text for o in outputs])
    images_results = {size: (wall, [d.hex() for d in data]) for size, (wall, data) in drawn.items()}
    report(
        f"diffusers: {args.images} images, {args.steps} steps, {args.side}px",
        "images",
        args.sizes,
        images_results,
    )
    report(f"hf grader: {args.questions} questions, 1 token", "questions", args.sizes, answered)


if __name__ == "__main__":
    main()
