"""Calls in flight per backend: an AIMD limit that halves on rate limits and creeps back up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType


class AdaptiveLimiter:
    """At most `limit` holders at once; `limit` moves between 1 and `ceiling`.

    A rate-limit reply halves the limit (at most once per `cooldown_s`, so a burst of 429s
    from one overloaded moment counts once) and pauses new calls until the provider's advised
    reset time; each success adds 1/limit, so the limit grows by about one per full window.
    """

    def __init__(self, ceiling: int, cooldown_s: float = 1.0):
        self.ceiling = ceiling
        self.limit = float(ceiling)
        self.in_flight = 0
        self.cooldown_s = cooldown_s
        self._paused_until = 0.0
        self._last_decrease = -float("inf")
        self._changed = asyncio.Condition()

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self) -> None:
        async with self._changed:
            while True:
                pause = self._paused_until - time.monotonic()
                if pause > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), pause)
                elif self.in_flight < self.current:
                    break
                else:
                    await self._changed.wait()
            self.in_flight += 1

    async def release(self) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify(max(1, self.current - self.in_flight))

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()

    def on_success(self) -> None:
        self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)

    def on_rate_limit(self, wait_s: float | None) -> None:
        now = time.monotonic()
        if now - self._last_decrease >= self.cooldown_s:
            self.limit = max(1.0, self.limit / 2)
            self._last_decrease = now
        if wait_s:
            self._paused_until = max(self._paused_until, now + wait_s)
