"""Batch mode's settings (`batch:` on a model entry, or for a whole run) and how a run's
`batch:` reaches its entries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from skillmix.config.fields import Number, Strict


class BatchSettings(Strict):
    """Batch mode (`batch: true`, or these fields): calls go through the provider's batch API
    (OpenAI, Anthropic) at half the price, answered within hours, not seconds (run/batches.py)."""

    size: int = Field(default=1000, ge=1, le=50_000, strict=True)  # requests per batch, at most
    wait_s: Number = Field(default=60, ge=0)  # a smaller batch is sent once its oldest waited
    poll_s: Number = Field(default=30, gt=0, le=3600)  # between polls of the batches in flight
    max_batches: int = Field(default=50, ge=1, le=2000, strict=True)  # in flight at once
    # a batch older than this is cancelled; once the cancel has ended, what it did not run
    # goes realtime (None: batches run their 24 hours)
    cancel_after_s: Number | None = Field(default=None, gt=0)
    # likewise a batch with this share of its requests finished (its slowest few go realtime)
    cancel_done_share: Number | None = Field(default=None, gt=0, lt=1)
    # how a cancelled batch's unrun calls go: realtime, or OpenAI's flex tier (at batch prices)
    stragglers: Literal["realtime", "flex"] = "realtime"


BATCH_PREFIXES = ("openai/", "anthropic/")  # the backends with a batch API


def batch_switch(value: Any) -> Any:
    """`batch: true` is the default settings, `false` none."""
    if value is True:
        return {}
    return None if value is False else value


# a `batch:` field: true (the defaults), false or null (none), or the settings
BatchSwitch = Annotated[BatchSettings | None, BeforeValidator(batch_switch)]


def run_batch(data: Any, fields: tuple[str, ...]) -> Any:
    """A run's `batch:` given to each of its openai/ and anthropic/ entries (with one base_url)
    that does not set its own: `batch: false` keeps an entry realtime."""
    batch = data.get("batch") if isinstance(data, dict) else None
    if batch is None or batch is False:
        return data
    found = dict(data)
    for name in fields:
        if isinstance(value := found.get(name), list):
            found[name] = [with_batch(entry, batch) for entry in value]
        elif value is not None:
            found[name] = with_batch(value, batch)
    return found


def with_batch(entry: Any, batch: Any) -> Any:
    """One entry with the run's `batch:`, where it can batch and does not say otherwise."""
    if batch is None or batch is False or not isinstance(entry, dict) or "batch" in entry:
        return entry
    if isinstance(entry.get("base_url"), list):
        return entry
    model = entry.get("model")
    if not isinstance(model, str) or not model.startswith(BATCH_PREFIXES):
        return entry
    if model.startswith("anthropic/") and isinstance(batch, dict) and "stragglers" in batch:
        batch = {**batch, "stragglers": "realtime"}  # flex is OpenAI's
    return {**entry, "batch": batch}
