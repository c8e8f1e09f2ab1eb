"""Work fed to a run through a fixed number of workers, so that memory does not grow with the
item count: a run of 100,000 items holds a few hundred coroutines, not one per generation.

Each worker takes the next job from one shared iterator (safe: the event loop runs one
coroutine at a time) and awaits it before taking another. Jobs come out in order, so a run
starts its items in the order of the plan, as the store and the limiters see them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

Job = Callable[[], Awaitable[None]]
WORKERS_PER_SLOT = 2  # a job holds a student slot, then grader slots: keep both kinds busy


async def run_bounded(jobs: Iterable[Job], workers: int) -> None:
    """Every job, at most `workers` of them running at once."""
    pending = iter(jobs)

    async def worker() -> None:
        for job in pending:
            await job()

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))


def worker_count(slots: int, jobs: int) -> int:
    """Enough workers to fill every concurrency slot of the run, never more than jobs."""
    return max(1, min(jobs, WORKERS_PER_SLOT * slots))
