"""OpenAI's Batch API through the official SDK: a JSONL file of chat bodies uploaded, a batch
made of it (tagged with the caller's job id), polled, and its output and error files read
back per custom_id. Neither the SDK nor the API takes an idempotency key, so a create whose
outcome is unknown is looked for by its tag before anything is sent again."""

from __future__ import annotations

import json
from typing import Any

import openai

from skillmix.errors import MalformedReply
from skillmix.models.batch_api import BatchState, LineFailed, Result
from skillmix.models.openai_api import parse_reply

ENDPOINT = "/v1/chat/completions"
JOB_TAG = "skillmix_job"
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
# per-line errors that mean "not run": the request goes into another batch
NOT_RUN = frozenset({"batch_expired", "batch_cancelled", "request_timeout"})


class OpenAIBatches:
    max_requests = 50_000  # per batch (the API's limit)
    max_bytes = 190_000_000  # per input file, under the API's 200 MB
    not_found = openai.NotFoundError

    def __init__(self, client: Any):
        self.client = client

    def line(self, custom_id: str, body: dict[str, Any]) -> str:
        return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body})

    async def probe(self) -> None:
        await self.client.batches.list(limit=1)

    async def create(self, job: str, lines: list[str]) -> str:
        """Upload the lines and make a batch of them, tagged with `job`; the batch id."""
        data = ("".join(line + "\n" for line in lines)).encode()
        upload = await self.client.files.create(
            file=("batch_input.jsonl", data, "application/jsonl"), purpose="batch"
        )
        batch = await self.client.batches.create(
            completion_window="24h",
            endpoint=ENDPOINT,
            input_file_id=upload.id,
            metadata={JOB_TAG: job},
        )
        return str(batch.id)

    async def find(
        self, job: str, keys: tuple[str, ...], since: float, known: set[str]
    ) -> str | None:
        """The batch tagged with `job`, if the provider has one (a create that may have
        landed)."""
        async for batch in self.client.batches.list(limit=100):
            if (batch.metadata or {}).get(JOB_TAG) == job:
                return str(batch.id)
        return None

    async def state(self, batch_id: str) -> BatchState:
        batch = await self.client.batches.retrieve(batch_id)
        errors = (
            [(str(e.code or ""), str(e.message or "")) for e in batch.errors.data or []]
            if (batch.errors)
            else []
        )
        status = str(batch.status)
        files = (batch.output_file_id or None, batch.error_file_id or None)
        counts = batch.request_counts
        done = (counts.completed + counts.failed) / counts.total if counts and counts.total else 0.0
        ended, cancelled = status in TERMINAL, status == "cancelled"
        return BatchState(batch_id, status, ended, cancelled, done, (status, files, errors))

    async def results(self, state: BatchState, keys: tuple[str, ...]) -> dict[str, Result]:
        """Each answered custom_id's output or failure, from both files of an ended batch (an
        expired or cancelled one has the finished requests in its output file); every key
        of a batch that failed validation fails alike."""
        status, files, errors = state.details
        if status == "failed":  # refused at validation: no line was run
            return dict.fromkeys(keys, validation_failure(errors))
        results: dict[str, Result] = {}
        for file_id in files:
            if file_id is None:
                continue
            content = await self.client.files.content(file_id)
            for text in content.text.splitlines():
                if text.strip():
                    line = json.loads(text)
                    results[line["custom_id"]] = line_result(line)
        return results

    async def cancel(self, batch_id: str) -> None:
        await self.client.batches.cancel(batch_id)

    def uncertain(self, error: BaseException) -> bool:
        """Whether a create that raised this may still have made the batch (a timeout, a
        reset, a 5xx): it is looked for before anything is sent again."""
        if isinstance(error, openai.APIStatusError):
            return error.status_code >= 500
        return isinstance(error, openai.APIConnectionError)


def validation_failure(errors: list[tuple[str, str]]) -> LineFailed:
    """Why a batch was refused: over the enqueued-token limit (sent again later) or an input
    the API will not take (each call fails)."""
    code, message = errors[0] if errors else ("failed", "no reason given")
    return LineFailed(f"batch refused: {code}: {message}", retry=code == "token_limit_exceeded")


def line_result(line: dict[str, Any]) -> Result:
    """One output or error line: both shapes of error (an HTTP status with the error in the
    body, or no response and an error code)."""
    response, error = line.get("response"), line.get("error")
    if response is None:
        code = (error or {}).get("code") or "no response"
        message = (error or {}).get("message") or ""
        return LineFailed(f"batch request {code}: {message}", retry=code in NOT_RUN)
    status = int(response.get("status_code") or 0)
    body = response.get("body") or {}
    if status != 200:
        message = ((body.get("error") or {}).get("message")) or str(body)[:200]
        retry = status == 429 or status >= 500
        return LineFailed(f"batch request HTTP {status}: {message}", retry=retry)
    try:
        return parse_reply(body)
    except MalformedReply as exc:
        return LineFailed(str(exc), retry=False)
