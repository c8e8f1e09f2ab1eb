"""Retries of transient failures with tenacity: exponential backoff with jitter, the
provider's advised wait honoured, and the backend's limiter told about rate limits."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from skillmix.models import defaults
from skillmix.models.base import ModelBackend, ModelOutput, ModelRequest, RetryAdvice
from skillmix.models.limits import AdaptiveLimiter


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = defaults.RETRIES
    backoff_s: float = defaults.BACKOFF_S
    backoff_max_s: float = defaults.BACKOFF_MAX_S


async def generate_with_retries(
    backend: ModelBackend,
    request: ModelRequest,
    *,
    limiter: AdaptiveLimiter,
    policy: RetryPolicy,
    on_attempt: Callable[[], None] = lambda: None,
    on_retry: Callable[[RetryAdvice], None] = lambda advice: None,
) -> ModelOutput:
    """One call, retried while the backend calls its failure transient. Each attempt holds
    a limiter slot only while it is on the wire, never while it waits to retry."""
    backoff = wait_exponential_jitter(
        multiplier=policy.backoff_s, max=policy.backoff_max_s, jitter=policy.backoff_s
    )

    def advice(state: RetryCallState) -> RetryAdvice:
        error = state.outcome.exception() if state.outcome else None
        return backend.advise(error) if isinstance(error, Exception) else RetryAdvice(retry=False)

    def wait(state: RetryCallState) -> float:
        return max(backoff(state), advice(state).wait_s or 0.0)

    def before_sleep(state: RetryCallState) -> None:
        found = advice(state)
        if found.rate_limited:
            limiter.on_rate_limit(found.wait_s)
        on_retry(found)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.retries + 1),
        wait=wait,
        retry=retry_if_exception(lambda e: isinstance(e, Exception) and backend.advise(e).retry),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            async with limiter:
                on_attempt()
                output = await backend.generate(request)
            limiter.on_success()
            return output
    raise AssertionError("unreachable: tenacity either returns or reraises")


DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
RETRIED_STATUS = frozenset({408, 409, 429})  # and every 5xx (529: overloaded)
RESET_HEADERS = (
    "x-ratelimit-reset-requests",  # OpenAI: durations such as "1s", "6m0s", "50ms"
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-reset",  # Anthropic: RFC 3339 times
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
)


def _seconds(value: str) -> float | None:
    """A delay in seconds from '1.5', '6m0s', '50ms', an HTTP date or an RFC 3339 time."""
    value = value.strip()
    with contextlib.suppress(ValueError):
        return float(value)
    parts = DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * UNIT_SECONDS[u] for n, u in parts)
    with contextlib.suppress(ValueError):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment - datetime.now(UTC)).total_seconds()
    with contextlib.suppress(TypeError, ValueError, IndexError):
        return (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    return None


def advised_wait(headers: Mapping[str, str] | None) -> float | None:
    """How long the provider asks us to wait: Retry-After first, else its rate-limit resets."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None and (wait := _seconds(ms)) is not None:
        return max(0.0, wait / 1000)
    if (after := headers.get("retry-after")) is not None and (wait := _seconds(after)) is not None:
        return max(0.0, wait)
    resets = [w for h in RESET_HEADERS if (v := headers.get(h)) and (w := _seconds(v)) is not None]
    return max(0.0, *resets) if resets else None


def advise_status(status: int, headers: Mapping[str, str]) -> RetryAdvice:
    """Retry rate limits, conflicts, timeouts and server errors; never other client errors."""
    retry = status in RETRIED_STATUS or status >= 500
    wait = advised_wait(headers) if retry else None
    denied = status in (401, 403)
    return RetryAdvice(retry=retry, rate_limited=status == 429, wait_s=wait, denied=denied)
