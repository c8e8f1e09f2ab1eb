"""The AIMD concurrency limit and the parsing of providers' wait headers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from skillmix.models.limits import AdaptiveLimiter
from skillmix.models.retry import advised_wait


def test_rate_limit_halves_once_per_cooldown_and_successes_grow_it_back() -> None:
    async def scenario() -> None:
        limiter = AdaptiveLimiter(64, cooldown_s=60)
        limiter.on_rate_limit(None)
        limiter.on_rate_limit(None)  # same overloaded moment: counted once
        assert limiter.current == 32
        for _ in range(32):
            limiter.on_success()
        assert limiter.limit == pytest.approx(33, abs=0.05)  # about +1 per full window
        for _ in range(10_000):
            limiter.on_success()
        assert limiter.current == 64  # never above the ceiling

    asyncio.run(scenario())


def test_limit_never_falls_below_one() -> None:
    async def scenario() -> None:
        limiter = AdaptiveLimiter(4, cooldown_s=0)
        for _ in range(10):
            limiter.on_rate_limit(None)
        assert limiter.current == 1

    asyncio.run(scenario())


def test_holders_never_exceed_the_current_limit() -> None:
    async def scenario() -> int:
        limiter = AdaptiveLimiter(5)
        peak = 0

        async def work() -> None:
            nonlocal peak
            async with limiter:
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(0.001)

        await asyncio.gather(*(work() for _ in range(100)))
        assert limiter.in_flight == 0
        return peak

    assert asyncio.run(scenario()) == 5


def test_advised_wait_pauses_new_calls() -> None:
    async def scenario() -> float:
        limiter = AdaptiveLimiter(8)
        limiter.on_rate_limit(0.2)
        started = time.monotonic()
        async with limiter:
            return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.19


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.05"}, 0.05),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "50ms"}, 1.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_advised_wait(headers: dict[str, str], seconds: float | None) -> None:
    assert advised_wait(headers) == (None if seconds is None else pytest.approx(seconds))


def test_advised_wait_reads_anthropic_reset_times() -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    wait = advised_wait({"anthropic-ratelimit-requests-reset": reset})
    assert wait is not None and 2.5 < wait <= 3.0
