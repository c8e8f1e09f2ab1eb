"""Batch mode: a model's calls sent through its provider's batch API (OpenAI's, Anthropic's)
at half the price.

Calls wait in a queue keyed by content key (identical requests are sent once); a batch is
made when the queue holds `size` requests or its oldest has waited `wait_s`, at most
`max_batches` at a time. The three dependent phases pipeline by themselves: as soon as an
item's turn-1 answer arrives its turn-2 call joins the queue, and its gradings after that.

Every batch is in the run's ledger (batch_store.py) before it is created, with its batch id
as soon as the create returns; a rerun re-attaches to the batches whose results it has not
stored, and never sends a key whose batch is live. A create that did not return (a timeout,
a reset, a 5xx) is looked for at the provider before its keys are sent again, a few times
over (a batch list may lag the create). Requests an expired or cancelled batch did not run go
into the next batch; those it answered are kept. A batch is polled every `poll_s` at first,
then less often while it runs (up to 8 times)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillmix.config import BatchSettings, ModelEntry
from skillmix.errors import SkillmixError
from skillmix.models import ModelBackend, ModelOutput
from skillmix.models.anthropic_api import AnthropicBackend
from skillmix.models.anthropic_batch import AnthropicBatches
from skillmix.models.batch_api import BatchApi, BatchState, LineFailed, NotYetKnown, Result
from skillmix.models.openai_api import OpenAIBackend
from skillmix.models.openai_batch import OpenAIBatches
from skillmix.run.batch_store import ABANDONED, ENDED, BatchLedger
from skillmix.run.store import RunStore

LOG = logging.getLogger(__name__)
MAX_TRIES = 5  # batches a call may go unrun in (expired, refused, a 5xx line) before it fails
MAX_ROUND_FAILURES = 20  # rounds in a row whose API calls failed, before the waiting calls do
POLL_BACKOFF, MAX_POLL_FACTOR = 1.5, 8  # a running batch's poll interval grows to 8 x poll_s
LOOKS = 4  # times a create that did not return is looked for, polls apart, before a resend


class RunRealtime(Exception):
    """This call goes realtime: the endpoint has no batch API (a vLLM or llama.cpp server), or
    its batch was cancelled as a straggler before it ran the call (`straggler`)."""

    def __init__(self, message: str, *, straggler: bool = False):
        super().__init__(message)
        self.straggler = straggler


@dataclass
class Waiting:
    line: str
    futures: list[asyncio.Future[ModelOutput]] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)
    tries: int = 0  # batches it was sent in that did not run it


@dataclass
class Watched:
    """A batch of this run: its keys, who waits for them, and its results once it ended."""

    keys: tuple[str, ...]
    batch_id: str | None
    created: float = field(default_factory=time.time)
    waiting: dict[str, Waiting] = field(default_factory=dict)  # the keys asked for so far
    results: dict[str, Result] | None = None
    cancelled: bool = False  # by this run, as a straggler: what it did not run goes realtime
    next_poll: float = 0.0  # time.monotonic() of its next poll
    polls: int = 0
    looks: int = 0  # times its batch was looked for (a create that did not return)


class Batcher:
    """One model's batch queue and batches in flight (one per backend of a run)."""

    def __init__(
        self,
        ledger: BatchLedger,
        model: str,
        api: BatchApi,
        settings: BatchSettings,
        notice: Callable[[str], None] | None = None,
    ):
        self.ledger, self.model, self.api, self.settings = ledger, model, api, settings
        self.notice = notice  # what the run says once, at its end (beside the log)
        self.pending: dict[str, Waiting] = {}
        self.watched: dict[str, Watched] = {}
        self.claimed: dict[str, str] = {}  # key -> the newest job holding it
        self.realtime = False
        self.probed = False  # whether the endpoint was asked if it has a batch API
        self.made = self.ended = 0  # batches made and ended by this process
        self._worker: asyncio.Task[None] | None = None
        for job in ledger.unfinished(model):
            self._watch(job.job, job.keys, job.batch_id, job.created)

    @property
    def batches_in_flight(self) -> int:
        return sum(1 for w in self.watched.values() if w.results is None)

    async def generate(self, key: str, body: dict[str, Any]) -> ModelOutput:
        """The output for one call, once a batch has answered it."""
        if self.realtime:
            raise RunRealtime(self.model)
        future: asyncio.Future[ModelOutput] = asyncio.get_running_loop().create_future()
        job = self.claimed.get(key)
        queue = self.pending if job is None else self.watched[job].waiting
        queue.setdefault(key, Waiting(self.api.line(key, body))).futures.append(future)
        if job is not None:
            self._deliver(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        return await future

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    # -- the worker ---------------------------------------------------------------------

    async def _work(self) -> None:
        failures = 0
        while self.pending or self._waited_for():
            try:
                await self._round()
                failures = 0
            except Exception as exc:  # the API unreachable, say: tried again next round
                failures += 1
                LOG.warning("%s: batch API call failed (%s)", self.model, exc)
                if failures >= MAX_ROUND_FAILURES:
                    self._fail_all(exc)
            await asyncio.sleep(self.settings.poll_s)

    async def _round(self) -> None:
        if not self.probed:
            await self._probe()
        while self._ready() and not self.realtime:
            await self._submit()
        now = time.monotonic()
        due = [j for j, w in self.watched.items() if w.results is None and w.next_poll <= now]
        for job in due:
            await self._poll(job)

    async def _probe(self) -> None:
        """Asked once, before a first batch waits to fill: a vLLM or llama.cpp server has no
        batch API, and its calls go realtime at once."""
        try:
            await self.api.probe()
        except self.api.not_found:
            self._no_batch_api()
        self.probed = True

    def _fail_all(self, error: Exception) -> None:
        """Every waiting call fails, recorded against its item (a rerun re-attaches to the
        batches in the ledger)."""
        failed = LineFailed(f"the batch API kept failing: {type(error).__name__}: {error}")
        for queue in [self.pending, *(w.waiting for w in self.watched.values())]:
            for waiting in queue.values():
                for future in waiting.futures:
                    if not future.done():
                        future.set_exception(failed)
            queue.clear()

    def _waited_for(self) -> bool:
        return any(w.waiting for w in self.watched.values())

    def _ready(self) -> bool:
        if not self.pending or self.batches_in_flight >= self.settings.max_batches:
            return False
        oldest = min(w.since for w in self.pending.values())
        full = len(self.pending) >= self.settings.size
        return full or time.monotonic() - oldest >= self.settings.wait_s

    def _next_keys(self) -> list[str]:
        """The oldest waiting keys, at most `size` of them and the API's bytes per file."""
        keys: list[str] = []
        size = 0
        for key, waiting in self.pending.items():
            size += len(waiting.line) + 1
            full = len(keys) == min(self.settings.size, self.api.max_requests)
            if full or (keys and size > self.api.max_bytes):
                break
            keys.append(key)
        return keys

    async def _submit(self) -> None:
        keys = self._next_keys()
        taken = {key: self.pending.pop(key) for key in keys}
        job = self.ledger.open_job(self.model, keys)  # committed before the create
        self._watch(job, tuple(keys), None)
        self.watched[job].waiting = taken
        try:
            batch_id = await self.api.create(job, [w.line for w in taken.values()])
        except self.api.not_found:
            self._no_batch_api(job)
            return
        except Exception as exc:
            if not self.api.uncertain(exc):
                self._fail(job, exc)
            else:  # made, or safe to send again: looked for now and at later polls
                await self._found(job)
            return
        self.ledger.set_batch(job, batch_id)
        self.watched[job].batch_id = batch_id
        self.made += 1

    async def _found(self, job: str) -> bool:
        """Whether the batch of a create that did not return (this process's, or a killed
        one's) is found; not found LOOKS times, its keys are sent again."""
        watched = self.watched[job]
        try:
            watched.batch_id = await self._find(job)
        except NotYetKnown:  # a batch that may be its is running: wait for it, send nothing
            self._poll_later(watched)
            return False
        if watched.batch_id is not None:
            self.ledger.set_batch(job, watched.batch_id)
            self.made += 1
            return True
        watched.looks += 1
        if watched.looks >= LOOKS:
            self._requeue(job, list(watched.keys))
        else:
            self._poll_later(watched)
        return False

    async def _find(self, job: str) -> str | None:
        """The batch a create that did not return made, if it made one."""
        watched = self.watched[job]
        known = self.ledger.batch_ids(self.model)
        return await self.api.find(job, watched.keys, watched.created, known)

    async def _poll(self, job: str) -> None:
        watched = self.watched[job]
        if watched.batch_id is None and not await self._found(job):
            return
        assert watched.batch_id is not None
        try:
            state = await self.api.state(watched.batch_id)
        except self.api.not_found:  # deleted, or the provider lost it: sent again
            self._requeue(job, list(watched.keys))
            return
        if not state.ended:
            self._poll_later(watched)
            await self._cancel_if_straggling(watched, state)
            return
        if state.cancelled and self._cancels_stragglers():
            watched.cancelled = True  # (by this run before it was killed, say)
        watched.results = await self.api.results(state, watched.keys)
        self.ledger.set_status(job, ENDED)
        self.ended += 1
        self._deliver(job)

    def _poll_later(self, watched: Watched) -> None:
        """A running batch (or one looked for) is polled less and less often, up to
        MAX_POLL_FACTOR x poll_s."""
        watched.polls += 1
        factor = min(POLL_BACKOFF**watched.polls, MAX_POLL_FACTOR)
        watched.next_poll = time.monotonic() + self.settings.poll_s * factor

    def _cancels_stragglers(self) -> bool:
        settings = self.settings
        return settings.cancel_after_s is not None or settings.cancel_done_share is not None

    async def _cancel_if_straggling(self, watched: Watched, state: BatchState) -> None:
        """A batch older than cancel_after_s, or with cancel_done_share of its requests done,
        is cancelled; its calls wait for the cancel to end (what runs meanwhile is billed)
        and then go realtime."""
        age, share = self.settings.cancel_after_s, self.settings.cancel_done_share
        old = age is not None and time.time() - watched.created >= age
        nearly_done = share is not None and state.done_share >= share
        if watched.cancelled or not (old or nearly_done):
            return
        await self.api.cancel(str(watched.batch_id))
        watched.cancelled = True

    # -- results ------------------------------------------------------------------------

    def _deliver(self, job: str) -> None:
        """Answer the waiting calls of an ended batch; send again what it did not run."""
        watched = self.watched[job]
        if watched.results is None:
            return
        for key, waiting in list(watched.waiting.items()):
            del watched.waiting[key]
            result = watched.results.get(key, LineFailed("not in the results", retry=True))
            if isinstance(result, LineFailed) and result.retry and watched.cancelled:
                cancelled = RunRealtime(f"{self.model}: its batch was cancelled", straggler=True)
                for future in waiting.futures:
                    future.set_exception(cancelled)
                continue
            if isinstance(result, LineFailed) and result.retry:
                waiting.tries += 1
                if waiting.tries < MAX_TRIES:
                    self._pend(key, waiting)
                    continue
            for future in waiting.futures:
                if future.done():
                    continue
                if isinstance(result, LineFailed):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _pend(self, key: str, waiting: Waiting) -> None:
        """A key back in the queue, for the next batch."""
        self.claimed.pop(key, None)
        found = self.pending.setdefault(key, Waiting(waiting.line, tries=waiting.tries))
        found.futures += waiting.futures

    def _watch(
        self, job: str, keys: tuple[str, ...], batch_id: str | None, created: float | None = None
    ) -> None:
        self.watched[job] = Watched(keys, batch_id, created or time.time())
        for key in keys:
            self.claimed[key] = job

    def _requeue(self, job: str, keys: list[str]) -> None:
        """A job whose batch was never made: its keys are free to send again."""
        self.ledger.set_status(job, ABANDONED)
        watched = self.watched.pop(job)
        for key in keys:
            if self.claimed.get(key) == job:
                del self.claimed[key]
        for key, waiting in watched.waiting.items():
            self._pend(key, waiting)

    def _fail(self, job: str, error: Exception) -> None:
        self.ledger.set_status(job, ABANDONED)
        watched = self.watched.pop(job)
        for key in watched.keys:
            if self.claimed.get(key) == job:
                del self.claimed[key]
        for waiting in watched.waiting.values():
            for future in waiting.futures:
                if not future.done():
                    future.set_exception(error)

    def _no_batch_api(self, job: str | None = None) -> None:
        said = f"{self.model}: the endpoint has no batch API; its calls went realtime"
        LOG.info(said)
        if self.notice is not None:
            self.notice(said)
        self.realtime = True
        if job is not None:
            self._fail(job, RunRealtime(self.model))
        for waiting in self.pending.values():
            for future in waiting.futures:
                future.set_exception(RunRealtime(self.model))
        self.pending.clear()


def batchers(
    store: RunStore,
    batched: Sequence[tuple[ModelEntry, ModelBackend]],
    notice: Callable[[str], None] | None = None,
) -> dict[int, Batcher]:
    """A batcher per backend of the entries in batch mode (by the backend's id)."""
    if not batched:
        return {}
    ledger = BatchLedger(store)
    found: dict[int, Batcher] = {}
    for entry, backend in batched:
        if entry.batch is None or id(backend) in found:
            continue
        api: BatchApi
        if isinstance(backend, OpenAIBackend):
            api = OpenAIBatches(backend.client)
        elif isinstance(backend, AnthropicBackend):
            api = AnthropicBatches(backend.client)
        else:
            raise SkillmixError(f"{entry.model}: no batch API to send to", field="batch")
        model = f"{entry.model}@{backend.base_url or 'the provider'}"
        found[id(backend)] = Batcher(ledger, model, api, entry.batch, notice)
    return found
