"""Anthropic's Message Batches through the official SDK: the requests sent inline, the batch
polled, its results read per custom_id once it has ended (none before: Anthropic gives no
partial results). A message batch has no metadata, so a create that did not return is
looked for among the batches made since its job was written, by its number of requests, and
confirmed by the custom_ids a candidate answered once it has ended."""

from __future__ import annotations

import json
from typing import Any

import anthropic

from skillmix.models.anthropic_api import message_output
from skillmix.models.batch_api import BatchState, LineFailed, NotYetKnown, Result

CLOCK_SKEW_S = 300  # the provider's clock against ours, when matching a lost create
RETRIED_ERRORS = frozenset({"rate_limit_error", "overloaded_error", "api_error", "timeout_error"})


class AnthropicBatches:
    max_requests = 100_000  # per batch (the API's limit)
    max_bytes = 240_000_000  # under the API's 256 MB
    not_found = anthropic.NotFoundError

    def __init__(self, client: Any):
        self.client = client

    def line(self, custom_id: str, body: dict[str, Any]) -> str:
        return json.dumps({"custom_id": custom_id, "params": body})

    async def probe(self) -> None:
        await self.client.messages.batches.list(limit=1)

    async def create(self, job: str, lines: list[str]) -> str:
        batch = await self.client.messages.batches.create(
            requests=[json.loads(line) for line in lines]
        )
        return str(batch.id)

    async def find(
        self, job: str, keys: tuple[str, ...], since: float, known: set[str]
    ) -> str | None:
        """The batch a lost create made, if one was made: created since the job (give or take
        the clocks) with as many requests, not `known` as another job's, and answering these
        custom_ids once it has ended (its results are needed anyway). NotYetKnown while such
        a batch is still running."""
        running = 0
        async for batch in self.client.messages.batches.list(limit=100):
            total = batch.request_counts.processing + _finished(batch.request_counts)
            recent = batch.created_at.timestamp() >= since - CLOCK_SKEW_S
            if not recent or total != len(keys) or str(batch.id) in known:
                continue
            if batch.processing_status != "ended":
                running += 1
            elif await self._answers(batch.id, keys):
                return str(batch.id)
        if running:
            raise NotYetKnown(f"{running} running batches could hold this job's {len(keys)} calls")
        return None

    async def _answers(self, batch_id: str, keys: tuple[str, ...]) -> bool:
        """Whether an ended batch's results are for these custom_ids (each a content key, so
        another run's or another client's batch never matches)."""
        wanted = set(keys)
        async for line in await self.client.messages.batches.results(batch_id):
            if line.custom_id not in wanted:
                return False
        return True

    async def state(self, batch_id: str) -> BatchState:
        batch = await self.client.messages.batches.retrieve(batch_id)
        status = str(batch.processing_status)
        cancelled = batch.cancel_initiated_at is not None
        counts = batch.request_counts
        total = counts.processing + _finished(counts)
        done = _finished(counts) / total if total else 0.0
        return BatchState(batch_id, status, status == "ended", cancelled, done)

    async def results(self, state: BatchState, keys: tuple[str, ...]) -> dict[str, Result]:
        results: dict[str, Result] = {}
        async for line in await self.client.messages.batches.results(state.batch_id):
            results[line.custom_id] = _result(line.result)
        return results

    async def cancel(self, batch_id: str) -> None:
        await self.client.messages.batches.cancel(batch_id)

    def uncertain(self, error: BaseException) -> bool:
        if isinstance(error, anthropic.APIStatusError):
            return error.status_code >= 500
        return isinstance(error, anthropic.APIConnectionError)


def _finished(counts: Any) -> int:
    """A batch's requests that have ended, one way or another."""
    return int(counts.succeeded + counts.errored + counts.canceled + counts.expired)


def _result(result: Any) -> Result:
    if result.type == "succeeded":
        return message_output(result.message)
    if result.type in ("canceled", "expired"):
        return LineFailed(f"batch request {result.type}", retry=True)
    kind = result.error.error.type
    message = getattr(result.error.error, "message", "")
    return LineFailed(f"batch request {kind}: {message}", retry=kind in RETRIED_ERRORS)
