"""The base of in-process backends that decode concurrent calls together (hf, vllm).

Concurrent `generate` calls go into a queue. One worker task takes the first waiting request,
waits up to `batch_wait_ms` for companions (or until `max_batch_size` are waiting) and hands
them to `run_batch` in a worker thread, one batch at a time. Each caller gets its own result
(or error) as soon as its batch returns, so the runner stores it before the next batch runs.
Closing lets the batch in flight finish (its callers get their replies) and fails the calls
still waiting in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import abstractmethod
from dataclasses import dataclass

from pydantic import Field

from skillmix.errors import BackendError
from skillmix.models.base import (
    BackendOptions,
    BackendSettings,
    ModelBackend,
    ModelOutput,
    ModelRequest,
)

# transformers (and diffusers through it) builds a model on the meta device through a
# process-wide default-device context: two models loading at once in two threads (two hf/
# students, a diffusers pipeline and an hf/ grader) break each other's weights
LOADING = threading.Lock()


class BatchOptions(BackendOptions):
    """The options of every batching backend; None: the backend's default."""

    max_batch_size: int | None = Field(default=None, gt=0)
    batch_wait_ms: int | None = Field(default=None, ge=0)


@dataclass
class Pending:
    request: ModelRequest
    future: asyncio.Future[ModelOutput]


class BatchingBackend(ModelBackend):
    """A local model whose concurrent calls are decoded in batches (see the module doc)."""

    options_model = BatchOptions
    options: BatchOptions

    def __init__(
        self, name: str, settings: BackendSettings, default_batch_size: int, default_wait_ms: int
    ):
        super().__init__(name, settings)
        self.max_batch_size = self.options.max_batch_size or default_batch_size
        wait_ms = self.options.batch_wait_ms
        self.batch_wait_s = (default_wait_ms if wait_ms is None else wait_ms) / 1000
        # the runner keeps a batch's worth of calls in flight
        self.default_concurrency = self.max_batch_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Pending] | None = None
        self._worker: asyncio.Task[None] | None = None

    @abstractmethod
    def run_batch(self, requests: list[ModelRequest]) -> list[ModelOutput | BackendError]:
        """Decode the requests together (in a worker thread); one result or error each."""

    @abstractmethod
    def release(self) -> None:
        """Free the model (in a worker thread, after the batch in flight)."""

    def batch_error(self, exc: Exception) -> Exception:
        """What the callers of a batch that raised get; by default the exception itself."""
        return exc

    async def generate(self, request: ModelRequest) -> ModelOutput:
        queue = self._ensure_worker()
        future: asyncio.Future[ModelOutput] = asyncio.get_running_loop().create_future()
        queue.put_nowait(Pending(request, future))
        return await future

    async def aclose(self) -> None:
        worker, self._worker, self._queue, self._loop = self._worker, None, None, None
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await asyncio.to_thread(self.release)

    def _ensure_worker(self) -> asyncio.Queue[Pending]:
        loop = asyncio.get_running_loop()
        worker = self._worker
        if self._loop is not loop or self._queue is None or worker is None or worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._work(self._queue), name=f"{self.prefix}-batcher")
        return self._queue

    async def _collect(self, queue: asyncio.Queue[Pending]) -> list[Pending]:
        batch = [await queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_wait_s
        while len(batch) < self.max_batch_size:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), left))
            except TimeoutError:
                break
        return [p for p in batch if not p.future.done()]  # drop cancelled callers

    async def _work(self, queue: asyncio.Queue[Pending]) -> None:
        batch: list[Pending] = []
        try:
            while True:
                batch = await self._collect(queue)
                if not batch:
                    continue
                running = asyncio.ensure_future(self._run(batch))
                try:
                    await asyncio.shield(running)
                except asyncio.CancelledError:
                    await running  # closing: the batch in flight ends and answers its callers
                    raise
        finally:
            closed = BackendError(f"the {self.prefix} backend was closed")
            leftover = batch + [queue.get_nowait() for _ in range(queue.qsize())]
            for pending in leftover:
                if not pending.future.done():
                    pending.future.set_exception(closed)

    async def _run(self, batch: list[Pending]) -> None:
        """Run one batch in a worker thread and answer each caller."""
        results: list[ModelOutput | Exception]
        try:
            done = await asyncio.to_thread(self.run_batch, [p.request for p in batch])
            results = list(done)
        except Exception as exc:  # fail the batch's callers, keep serving
            results = [self.batch_error(exc)] * len(batch)
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():  # the caller was cancelled
                continue
            if isinstance(result, Exception):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
