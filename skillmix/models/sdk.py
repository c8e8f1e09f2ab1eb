"""What the OpenAI and Anthropic backends share: both official SDKs have the same shape of
client, errors and keys, so key lookup, failure classification and closing live here."""

from __future__ import annotations

import itertools
import json
import math
import os
from types import ModuleType
from typing import Any

import httpx2

from skillmix.errors import MalformedReply, SkillmixError
from skillmix.models.base import BackendSettings, ModelBackend, RetryAdvice
from skillmix.models.retry import advise_status

CALLS_PER_CLIENT = 16  # calls in flight per SDK client (and its connection pool)


class SdkBackend(ModelBackend):
    sdk: ModuleType  # the `openai` or `anthropic` module
    key_variable: str  # the usual environment variable of the provider

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        self.failure_types = (self.sdk.APIError, json.JSONDecodeError, MalformedReply)
        self._clients: list[Any] = []
        self._turn = itertools.count()

    def connect(self, client_class: type[Any], api_key: str) -> None:
        """The SDK's async clients for these settings (SDK retries off: ours steer
        concurrency): one per CALLS_PER_CLIENT calls in flight. The HTTP connection pool
        scans all of its connections for every request it sends, so one pool for hundreds of
        calls in flight spends much of the process's CPU there; calls take the clients in
        turn (benchmarks/remote_throughput.py)."""
        count = max(1, math.ceil(self.concurrency / CALLS_PER_CLIENT))
        self._clients = [
            client_class(
                api_key=api_key,
                base_url=self.settings.base_url,
                max_retries=0,
                timeout=self.settings.timeout_s,
                http_client=self.http_client(math.ceil(self.concurrency / count)),
            )
            for _ in range(count)
        ]

    @property
    def client(self) -> Any:
        """The next SDK client, in turn."""
        return self._clients[next(self._turn) % len(self._clients)]

    def http_client(self, in_flight: int) -> Any:
        """The SDK's own HTTP client, with room to keep a connection per call in flight
        (the SDK keeps 100 idle ones; more calls in flight would reconnect all the time)."""
        limits = httpx2.Limits(
            max_connections=max(1000, in_flight), max_keepalive_connections=max(100, in_flight)
        )
        return self.sdk.DefaultAsyncHttpxClient(limits=limits, timeout=self.settings.timeout_s)

    def api_key(self, *, optional: bool = False) -> str | None:
        """The key from the environment: `api_key_env` if given, else the provider's variable."""
        variable = self.settings.api_key_env or self.key_variable
        key = os.environ.get(variable)
        if not key and not optional:
            raise SkillmixError(f"{self.prefix}/{self.name} needs an API key in ${variable}")
        return key or None

    def secrets(self) -> tuple[str, ...]:
        key = self.api_key(optional=True)
        return (key,) if key else ()

    @property
    def resolved_model(self) -> str:
        return self.name  # the served snapshot is known only from the reply (stored with it)

    def advise(self, error: Exception) -> RetryAdvice:
        if isinstance(error, self.sdk.APIStatusError):
            return advise_status(error.status_code, error.response.headers)
        transient = (
            self.sdk.APIConnectionError,
            self.sdk.APIResponseValidationError,
            json.JSONDecodeError,
            MalformedReply,
        )  # timeouts, resets, truncated or malformed bodies
        return RetryAdvice(retry=isinstance(error, transient))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
