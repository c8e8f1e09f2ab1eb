"""Replicas of one deployment: a model entry whose `base_url` is a list reaches the same model
through several endpoints (one server per GPU group, several hosts). One backend of the
entry's kind is made per endpoint; each call goes to the working endpoint with the fewest
calls in flight, at most `max_concurrency` (or the backend's default) in flight at each.

An endpoint whose calls fail with errors worth retrying (connection refused, resets, 5xx,
timeouts) REST_AFTER times in a row is rested: no call goes to it for a while (REST_S,
doubling up to MAX_REST_S while it keeps failing), then it is tried again. The failed call is
retried by the usual retry loop, on another endpoint. The run goes on while one endpoint
works; with every endpoint resting, calls go to the one whose rest ends first.

The cache key names the deployment (the entry's `deployment`, else its model), never an
endpoint, so a run resumed on other replicas reuses every stored call; each stored response
records the endpoint that served it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any

from skillmix.models.base import (
    BackendSettings,
    ModelBackend,
    ModelOutput,
    ModelRequest,
    RetryAdvice,
)

REST_AFTER = 3  # failures in a row that rest an endpoint
REST_S = 2.0
MAX_REST_S = 60.0


@dataclass
class Endpoint:
    url: str
    backend: ModelBackend
    slots: asyncio.Semaphore
    in_flight: int = 0
    failures: int = 0  # in a row
    rests: int = 0  # rests in a row (each twice as long)
    resting_until: float = 0.0
    served: int = 0

    def working(self, now: float) -> bool:
        return self.resting_until <= now


class ReplicaBackend(ModelBackend):
    """One deployment behind several endpoints (see the module doc)."""

    def __init__(
        self, model_class: type[ModelBackend], name: str, settings: BackendSettings
    ) -> None:
        if not settings.replicas:
            raise ValueError("a replica backend needs endpoints")
        super().__init__(name, replace(settings, options={}))
        self.endpoints = [
            self._endpoint(model_class, name, settings, url) for url in settings.replicas
        ]
        first = self.endpoints[0].backend
        self.prefix = first.prefix
        self.options = first.options
        self.failure_types = first.failure_types
        for flag in ("supports_json_schema", "makes_images", "accepts_images", "gives_logprobs"):
            setattr(self, flag, getattr(first, flag))
        self.max_image_bytes, self.max_image_side = first.max_image_bytes, first.max_image_side
        self.deployment = settings.deployment or f"{first.prefix}/{name}"

    @staticmethod
    def _endpoint(
        model_class: type[ModelBackend], name: str, settings: BackendSettings, url: str
    ) -> Endpoint:
        own = replace(settings, base_url=url, replicas=())
        backend = model_class.create(name, own)
        return Endpoint(url, backend, asyncio.Semaphore(backend.concurrency))

    @property
    def base_url(self) -> str:
        return f"deployment:{self.deployment}"  # the cache key's: no endpoint in it

    @property
    def concurrency(self) -> int:
        return sum(endpoint.backend.concurrency for endpoint in self.endpoints)

    @property
    def resolved_model(self) -> str:
        return self.endpoints[0].backend.resolved_model

    @property
    def output_size(self) -> tuple[int, int] | None:
        return self.endpoints[0].backend.output_size

    def output_tokens_bound(self) -> int | None:
        return self.endpoints[0].backend.output_tokens_bound()

    def price_unit(self) -> str | None:
        return self.endpoints[0].backend.price_unit()

    def key_settings(self) -> dict[str, Any]:
        return self.endpoints[0].backend.key_settings()

    def wire_body(self, request: ModelRequest) -> dict[str, Any]:
        return self.endpoints[0].backend.wire_body(request)

    def advise(self, error: Exception) -> RetryAdvice:
        return self.endpoints[0].backend.advise(error)

    def secrets(self) -> tuple[str, ...]:
        return tuple({s for e in self.endpoints for s in e.backend.secrets()})

    def choose(self) -> Endpoint:
        """The working endpoint with the fewest calls in flight (with none working, the one
        whose rest ends first)."""
        now = time.monotonic()
        working = [e for e in self.endpoints if e.working(now)]
        if not working:
            return min(self.endpoints, key=lambda e: e.resting_until)
        return min(working, key=lambda e: (e.in_flight, e.served))

    async def generate(self, request: ModelRequest) -> ModelOutput:
        endpoint = self.choose()
        endpoint.in_flight += 1  # counted while waiting, so that others go elsewhere
        try:
            async with endpoint.slots:
                output = await endpoint.backend.generate(request)
        except Exception as exc:
            self._failed(endpoint, exc)
            raise
        finally:
            endpoint.in_flight -= 1
        endpoint.failures = endpoint.rests = 0
        endpoint.served += 1
        return replace(output, replica=endpoint.url)

    def _failed(self, endpoint: Endpoint, error: Exception) -> None:
        if not self.advise(error).retry:
            return  # the request's fault, not the endpoint's
        endpoint.failures += 1
        if endpoint.failures >= REST_AFTER:
            rest = min(MAX_REST_S, REST_S * 2**endpoint.rests)
            endpoint.resting_until = time.monotonic() + rest
            endpoint.rests += 1
            endpoint.failures = 0

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.backend.aclose()
