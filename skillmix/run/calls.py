"""Stored calls: every model call of a run goes store -> budget -> limiter -> retry -> price ->
store, so a response is committed before anything uses it and a rerun never asks twice.

The budget holds: a call reserves its cost bound (its prompt and max_tokens at the model's
price) once it has a concurrency slot, and starts only if what is spent plus what the calls in
flight reserved leaves room for it; so the run overshoots budget_usd by at most what the
calls in flight spend beyond their bounds."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from skillmix.config import ModelEntry
from skillmix.errors import (
    BudgetReached,
    CallFailed,
    CredentialsRefused,
    Interrupted,
    scrub,
)
from skillmix.models import GeneratedImage, ModelBackend, ModelOutput, ModelRequest, RetryAdvice
from skillmix.models.batch_api import LineFailed
from skillmix.models.images import image_size
from skillmix.models.limits import AdaptiveLimiter
from skillmix.models.prices import PriceTable, price_share
from skillmix.models.retry import generate_with_retries
from skillmix.records import Spend
from skillmix.run.batches import RunRealtime, batchers
from skillmix.run.conceptmix.store import ImageFiles
from skillmix.run.estimate import usage_bound
from skillmix.run.store import RunStore


@dataclass
class RunStats:
    """Live counters for the progress display."""

    total: int = 0
    done: int = 0
    in_flight: int = 0
    calls: int = 0
    cached: int = 0
    retries: int = 0  # transport retries (rate limits, 5xx, timeouts)
    reasks: int = 0  # grader re-asks after unparseable replies
    unscored: int = 0
    failed: int = 0
    tokens: int = 0
    spent_usd: float = 0.0
    budget_reached: bool = False
    interrupted: bool = False
    concurrency: dict[str, int] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)  # why calls failed, by reason
    notices: list[str] = field(default_factory=list)  # said once at the end (no batch API)

    def failure_summary(self, most: int = 3) -> str:
        """The most common failure reasons, e.g. 'NotFoundError: ... (x4)'."""
        common = self.failures.most_common(most)
        return "; ".join(f"{reason} (x{count})" for reason, count in common)


class Keyed(Protocol):
    """What a call belongs to: an item, or (while it is written) an item to be."""

    @property
    def item_id(self) -> str: ...


@dataclass(frozen=True)
class Call:
    """Where a request sits in the protocol; part of its content key."""

    item: Keyed
    gen: int  # a generation; for ConceptMix, the image's number
    # "turn1", "turn2", "grade:<r>:<attempt>"; "image", "question:<n>", "write:<attempt>:<step>"
    slot: str


def derived_seed(run_seed: int, call: Call) -> int:
    text = f"skillmix-request|{run_seed}|{call.item.item_id}|{call.gen}|{call.slot}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1


def content_key(entry: ModelEntry, backend: ModelBackend, request: ModelRequest, call: Call) -> str:
    payload = {
        "backend": backend.prefix,
        "model": entry.model,
        "resolved_model": backend.resolved_model,
        "base_url": backend.base_url,
        "request": request.as_dict(),
        "item": call.item.item_id,
        "gen": call.gen,
        "slot": call.slot,
    }
    if settings := backend.key_settings():  # absent otherwise: older runs keep their keys
        payload["settings"] = settings
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def stored_request(backend: ModelBackend, request: ModelRequest) -> dict[str, Any]:
    """What the store keeps of a request: the request, and the backend settings that decided
    its output (an image model's effective size, steps, scheduler, library version)."""
    stored = request.as_dict()
    if settings := backend.key_settings():
        stored["settings"] = settings
    return stored


class StoredCalls:
    """The one path of a model call: answered from the store, or made and stored first."""

    def __init__(
        self,
        store: RunStore,
        prices: PriceTable,
        budget_usd: float | None,
        backends: list[ModelBackend],
        batched: Sequence[tuple[ModelEntry, ModelBackend]] = (),  # entries with `batch`
    ):
        self.store = store
        store.group_commits = True
        self.prices = prices
        self.budget_usd = budget_usd
        self.stats = RunStats(spent_usd=store.spent_usd())
        self.limiters = {id(b): AdaptiveLimiter(b.concurrency) for b in backends}
        self.reserved_usd = 0.0  # the cost bounds of the calls in flight
        self.batchers = batchers(store, batched, self.stats.notices.append)

    def slots(self) -> int:
        """Calls the run may have in flight: each limiter's ceiling, and in batch mode each
        batcher's batches' worth of requests (its calls wait in batches, not on the wire)."""
        limits = sum(limiter.ceiling for limiter in self.limiters.values())
        return limits + sum(
            b.settings.size * b.settings.max_batches for b in self.batchers.values()
        )

    def batch_line(self) -> str:
        """The batches of this process, for the progress line ("" without batch mode)."""
        found = list(self.batchers.values())
        if not found:
            return ""
        made, ended = sum(b.made for b in found), sum(b.ended for b in found)
        flying, queued = sum(b.batches_in_flight for b in found), sum(len(b.pending) for b in found)
        return f"batches {made} made, {flying} in flight, {ended} ended, {queued} requests queued"

    async def aclose_batchers(self) -> None:
        for batcher in self.batchers.values():
            await batcher.aclose()

    def stop(self) -> None:
        """Start no new call (Ctrl-C); the calls in flight go on and are stored."""
        self.stats.interrupted = True

    def _check_budget(self, needed: float = 0.0) -> None:
        if self.stats.interrupted:
            raise Interrupted("interrupted")
        budget = self.budget_usd
        committed = self.stats.spent_usd + self.reserved_usd
        if budget is not None and (committed >= budget or committed + needed > budget):
            self.stats.budget_reached = True
            raise BudgetReached(
                f"spent ${self.stats.spent_usd:.4f} (+${self.reserved_usd:.4f} in flight) of "
                f"budget_usd ${budget:.4f}"
            )

    def cost_bound(self, entry: ModelEntry, backend: ModelBackend, request: ModelRequest) -> float:
        """What a call can cost at most, as far as can be told before it is made."""
        usage = usage_bound(request, backend.output_tokens_bound())
        images = 1 if backend.makes_images else 0
        cost = self.prices.cost(entry.model, usage, images, backend.price_unit())
        return 0.0 if cost is None else cost

    async def call(
        self,
        entry: ModelEntry,
        backend: ModelBackend,
        request: ModelRequest,
        call: Call,
        spend: Spend,
    ) -> tuple[str, ModelOutput]:
        """The response to a request and its content key; its tokens and cost go to `spend`."""
        key = content_key(entry, backend, request, call)
        found = self.store.get_response(key)
        if found is not None:
            output, cost = found
            self.stats.cached += 1
            spend.add(output.usage, cost)
            return key, output
        self._check_budget()  # already spent: stop before waiting for a slot
        bound, reserved = self.cost_bound(entry, backend, request), False

        def on_attempt() -> None:  # holding a slot, about to send
            nonlocal reserved
            if not reserved:
                self._check_budget(bound)
                self.reserved_usd += bound
                reserved = True
            self.store.log_call(key)

        started = time.perf_counter()
        self.stats.in_flight += 1
        try:
            output = await self._generate(entry, backend, request, key, on_attempt)
        except backend.failure_types as exc:
            raise self._failure(entry, backend, exc) from exc
        except LineFailed as exc:  # a batch answered this request with an error
            raise self._failure(entry, backend, exc) from exc
        finally:
            self.stats.in_flight -= 1
            if reserved:
                self.reserved_usd -= bound
        images, unit = len(output.images), backend.price_unit()
        cost = self.prices.cost(entry.model, output.usage, images, unit)
        if cost is not None:
            cost *= price_share(output.batched, output.service_tier)
        output = replace(output, text=scrub(output.text, backend.secrets()))
        if output.images:  # the files first: the response names them
            output = replace(output, text=self.store_images(output.images))
        self.store.put_response(
            key,
            backend=backend.prefix,
            model=entry.model,
            resolved_model=backend.resolved_model,
            base_url=output.replica or backend.base_url,
            request=stored_request(backend, request),
            output=output,
            cost_usd=cost,
            latency_s=time.perf_counter() - started,
        )
        await self.store.committed()  # before the response is used
        self.stats.calls += 1
        self.stats.tokens += output.usage.input_tokens + output.usage.output_tokens
        self.stats.spent_usd += cost or 0.0
        spend.add(output.usage, cost)
        return key, output

    async def _generate(
        self,
        entry: ModelEntry,
        backend: ModelBackend,
        request: ModelRequest,
        key: str,
        on_attempt: Callable[[], None],
    ) -> ModelOutput:
        """The output from the model's batches in batch mode, else (or where its endpoint has
        no batch API) from a realtime call; a cancelled straggler's on OpenAI's flex tier
        where the settings say so."""
        batcher = self.batchers.get(id(backend))
        if batcher is not None and not batcher.realtime:
            on_attempt()
            try:
                output = await batcher.generate(key, backend.wire_body(request))
                return replace(output, batched=True)
            except RunRealtime as exc:
                if exc.straggler and batcher.settings.stragglers == "flex":
                    request = replace(request, service_tier="flex")
        return await generate_with_retries(
            backend,
            request,
            limiter=self.limiters[id(backend)],
            policy=entry.retry_policy,
            on_attempt=on_attempt,
            on_retry=self._count_retry,
        )

    def store_images(self, images: tuple[GeneratedImage, ...]) -> str:
        """Write a response's images into the run's image files; the manifest naming them
        (sha256, media type, size, revised prompt) is the response's stored text."""
        files = ImageFiles(self.store.path.parent)
        manifest = []
        for image in images:
            width, height = image_size(image.data)
            manifest.append(
                {
                    "sha256": files.write(image.data, image.media_type),
                    "media_type": image.media_type,
                    "width": width,
                    "height": height,
                    "revised_prompt": image.revised_prompt,
                }
            )
        return json.dumps({"images": manifest})

    def _failure(self, entry: ModelEntry, backend: ModelBackend, error: Exception) -> Exception:
        """What a call that failed for good raises: CredentialsRefused stops the run (every
        call would fail alike), CallFailed is recorded against the item."""
        failed = CallFailed(error, backend.secrets())
        if backend.advise(error).denied:
            return CredentialsRefused(
                f"{entry.model}: the provider refused the credentials ({failed}); check the "
                "API key and its variable (api_key_env)"
            )
        self.stats.failures[str(failed)[:160]] += 1
        return failed

    def _count_retry(self, advice: RetryAdvice) -> None:
        self.stats.retries += 1
