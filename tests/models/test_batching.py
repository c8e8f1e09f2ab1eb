"""The batching base of the in-process backends (hf, vllm), with an echo model standing in."""

from __future__ import annotations

import asyncio
import threading

import pytest

from skillmix.errors import BackendError, SkillmixError
from skillmix.models import BackendSettings, GenerationParams, ModelOutput, ModelRequest
from skillmix.models.batching import BatchingBackend
from skillmix.records import message_text


class EchoBackend(BatchingBackend):
    """Replies with each prompt; "fail" fails that request, "crash" the whole batch."""

    prefix = "echo"

    def __init__(self, **options: object):
        super().__init__("echo", BackendSettings(options=dict(options)), 4, 20)
        self.batches: list[list[str]] = []
        self.released = 0
        self.gate = threading.Event()  # set: batches run
        self.gate.set()

    @property
    def resolved_model(self) -> str:
        return "echo"

    def run_batch(self, requests: list[ModelRequest]) -> list[ModelOutput | BackendError]:
        self.gate.wait(10)
        prompts = [message_text(request.messages[-1]) for request in requests]
        self.batches.append(prompts)
        if "crash" in prompts:
            raise RuntimeError("the device fell over")
        return [BackendError("bad prompt") if p == "fail" else ModelOutput(p) for p in prompts]

    def release(self) -> None:
        self.released += 1

    def batch_error(self, exc: Exception) -> Exception:
        return BackendError(f"batch failed: {exc}")


def ask(text: str) -> ModelRequest:
    return ModelRequest([{"role": "user", "content": text}], GenerationParams(), seed=0)


async def settle(backend: EchoBackend, texts: list[str]) -> list[ModelOutput | BaseException]:
    calls = [backend.generate(ask(text)) for text in texts]
    return await asyncio.gather(*calls, return_exceptions=True)


def test_concurrent_calls_are_batched_up_to_the_limit_in_order() -> None:
    backend = EchoBackend()
    assert backend.default_concurrency == backend.max_batch_size == 4

    async def run() -> list[ModelOutput | BaseException]:
        try:
            return await settle(backend, [f"p{i}" for i in range(10)])
        finally:
            await backend.aclose()

    replies = asyncio.run(run())
    assert [r.text for r in replies if isinstance(r, ModelOutput)] == [f"p{i}" for i in range(10)]
    assert [len(batch) for batch in backend.batches] == [4, 4, 2]
    assert backend.released == 1


def test_failures_reach_only_their_callers_and_the_worker_goes_on() -> None:
    backend = EchoBackend(max_batch_size=2)

    async def run() -> list[ModelOutput | BaseException]:
        try:
            return await settle(backend, ["a", "fail", "crash", "b", "c"])
        finally:
            await backend.aclose()

    a, fail, crash, b, c = asyncio.run(run())
    assert isinstance(a, ModelOutput) and a.text == "a"
    assert isinstance(fail, BackendError) and str(fail) == "bad prompt"
    # "crash" took its whole batch down, "b" with it, through batch_error
    assert isinstance(crash, BackendError) and "the device fell over" in str(crash)
    assert isinstance(b, BackendError) and str(b) == str(crash)
    assert isinstance(c, ModelOutput) and c.text == "c"


def test_closing_lets_the_batch_in_flight_answer_and_fails_the_queue() -> None:
    backend = EchoBackend(max_batch_size=1, batch_wait_ms=0)
    backend.gate.clear()  # the first batch blocks in its thread

    async def run() -> tuple[list[ModelOutput | BaseException], bool, bool]:
        first = asyncio.ensure_future(backend.generate(ask("first")))
        cancelled = asyncio.ensure_future(backend.generate(ask("cancelled")))
        waiting = asyncio.ensure_future(backend.generate(ask("waiting")))
        await asyncio.sleep(0.1)  # "first" is in flight, the others queued
        cancelled.cancel()
        closing = asyncio.ensure_future(backend.aclose())
        await asyncio.sleep(0.1)
        closed_early = closing.done()  # it must wait for the batch in flight
        backend.gate.set()
        await closing
        results = await asyncio.gather(first, waiting, return_exceptions=True)
        return list(results), closed_early, cancelled.cancelled()

    (first, waiting), closed_early, was_cancelled = asyncio.run(run())
    assert not closed_early
    assert isinstance(first, ModelOutput) and first.text == "first"
    assert isinstance(waiting, BackendError) and str(waiting) == "the echo backend was closed"
    assert was_cancelled
    assert backend.batches == [["first"]]
    assert backend.released == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_batch_size": 0}, "options.max_batch_size: Input should be greater than 0"),
        ({"max_batch_size": True}, "options.max_batch_size: Input should be a valid integer"),
        (
            {"batch_wait_ms": -1},
            "options.batch_wait_ms: Input should be greater than or equal to 0",
        ),
        ({"batch_wait_ms": "20"}, "options.batch_wait_ms: Input should be a valid integer"),
    ],
)
def test_bad_batching_options_are_one_line_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(SkillmixError) as raised:
        EchoBackend(**options)
    assert str(raised.value) == message
