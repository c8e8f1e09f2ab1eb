"""What batch mode needs of a provider's batch API (openai_batch.py, anthropic_batch.py):
make a batch of request lines tagged with a job id, find one whose create did not return,
poll it, read its results per custom_id, cancel it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from skillmix.models.base import ModelOutput


class LineFailed(Exception):
    """One request of a batch that failed: `retry` when it was not run (expired, cancelled)
    or failed in a way worth another try (a 429 or 5xx line)."""

    def __init__(self, message: str, *, retry: bool = False):
        super().__init__(message)
        self.retry = retry


Result = ModelOutput | LineFailed


class NotYetKnown(Exception):
    """Whether a create that did not return made a batch cannot be told yet (a batch that
    could be its is still running): looked for again later, nothing sent meanwhile."""


@dataclass(frozen=True)
class BatchState:
    batch_id: str
    status: str  # the provider's own; an unknown one is not terminal
    ended: bool
    cancelled: bool = False  # ended by a cancel: what it did not run is in its results as such
    done_share: float = 0.0  # of its requests, the share finished so far
    details: Any = None  # what the provider's results() reads (file ids, a failed batch's errors)


class BatchApi(Protocol):
    max_requests: int
    max_bytes: int

    @property
    def not_found(self) -> type[Exception]:
        """The SDK's error for a batch (or a batch API) that is not there."""

    def line(self, custom_id: str, body: dict[str, Any]) -> str: ...

    async def probe(self) -> None:
        """Raises `not_found` where the endpoint has no batch API."""

    async def create(self, job: str, lines: list[str]) -> str: ...

    async def find(
        self, job: str, keys: tuple[str, ...], since: float, known: set[str]
    ) -> str | None: ...

    async def state(self, batch_id: str) -> BatchState: ...

    async def results(self, state: BatchState, keys: tuple[str, ...]) -> dict[str, Result]: ...

    async def cancel(self, batch_id: str) -> None: ...

    def uncertain(self, error: BaseException) -> bool: ...
