"""OpenAI's Batch API through the official SDK: a JSONL file of chat bodies uploaded, a batch
made of it (tagged with the caller's job id), polled, and its output and error files read
back per custom_id. Neither the SDK nor the API takes an idempotency key, so a create whose
outcome is unknown is looked for by its tag before anything is sent again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai

from skillmix.errors import MalformedReply
from skillmix.models.base import ModelOutput
from skillmix.models.openai_api import parse_reply

ENDPOINT = "/v1/chat/completions"
JOB_TAG = "skillmix_job"
MAX_REQUESTS = 50_000  # per batch (the API's limit)
MAX_BATCH_BYTES = 190_000_000  # per input file, under the API's 200 MB
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
# per-line errors that mean "not run": the request goes into another batch
NOT_RUN = frozenset({"batch_expired", "batch_cancelled", "request_timeout"})


class LineFailed(Exception):
    """One request of a batch that failed: `retry` when it was not run (expired, cancelled)
    or failed in a way worth another try (a 429 or 5xx line)."""

    def __init__(self, message: str, *, retry: bool):
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class BatchState:
    batch_id: str
    status: str  # the API's; an unknown one is not terminal
    output_file_id: str | None
    error_file_id: str | None
    errors: tuple[tuple[str, str], ...] = ()  # a failed batch's (code, message), at validation

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL


def batch_line(custom_id: str, body: dict[str, Any]) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body})


async def create_batch(client: Any, job: str, lines: list[str]) -> str:
    """Upload the lines and make a batch of them, tagged with `job`; the batch id."""
    data = ("".join(line + "\n" for line in lines)).encode()
    upload = await client.files.create(
        file=("batch_input.jsonl", data, "application/jsonl"), purpose="batch"
    )
    batch = await client.batches.create(
        completion_window="24h",
        endpoint=ENDPOINT,
        input_file_id=upload.id,
        metadata={JOB_TAG: job},
    )
    return str(batch.id)


async def find_batch(client: Any, job: str) -> str | None:
    """The batch tagged with `job`, if the provider has one (a create that may have landed)."""
    async for batch in client.batches.list(limit=100):
        if (batch.metadata or {}).get(JOB_TAG) == job:
            return str(batch.id)
    return None


async def batch_state(client: Any, batch_id: str) -> BatchState:
    batch = await client.batches.retrieve(batch_id)
    errors = (
        tuple((str(e.code or ""), str(e.message or "")) for e in (batch.errors.data or []))
        if batch.errors
        else ()
    )
    return BatchState(
        batch_id,
        str(batch.status),
        batch.output_file_id or None,
        batch.error_file_id or None,
        errors,
    )


async def cancel_batch(client: Any, batch_id: str) -> None:
    await client.batches.cancel(batch_id)


async def batch_results(
    client: Any, state: BatchState, keys: tuple[str, ...]
) -> dict[str, ModelOutput | LineFailed]:
    """Each answered custom_id's output or failure, from both files of an ended batch (an
    expired or cancelled one has the finished requests in its output file); every key of a
    batch that failed validation fails alike."""
    if state.status == "failed":  # refused at validation: no line was run
        return dict.fromkeys(keys, validation_failure(state))
    results: dict[str, ModelOutput | LineFailed] = {}
    for file_id in (state.output_file_id, state.error_file_id):
        if file_id is None:
            continue
        content = await client.files.content(file_id)
        for text in content.text.splitlines():
            if text.strip():
                line = json.loads(text)
                results[line["custom_id"]] = line_result(line)
    return results


def validation_failure(state: BatchState) -> LineFailed:
    """Why a batch was refused: over the enqueued-token limit (sent again later) or an input
    the API will not take (each call fails)."""
    code, message = state.errors[0] if state.errors else ("failed", "no reason given")
    return LineFailed(f"batch refused: {code}: {message}", retry=code == "token_limit_exceeded")


def line_result(line: dict[str, Any]) -> ModelOutput | LineFailed:
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


def uncertain(error: BaseException) -> bool:
    """Whether a create that raised this may still have made the batch (a timeout, a reset,
    a 5xx): it is looked for before anything is sent again."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code >= 500
    return isinstance(error, openai.APIConnectionError)
