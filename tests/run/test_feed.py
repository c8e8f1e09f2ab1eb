"""The run's work feeder: every job runs once, in order of start, never more than the worker
count at a time, and jobs are taken from the iterator only as workers free up (a run of
100,000 items never holds 100,000 coroutines)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from skillmix.run.feed import Job, run_bounded, worker_count


def test_every_job_runs_once_and_at_most_workers_at_a_time() -> None:
    started: list[int] = []
    running = peak = 0

    def job(index: int) -> Job:
        async def run() -> None:
            nonlocal running, peak
            started.append(index)
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001 * (index % 3))
            running -= 1

        return run

    asyncio.run(run_bounded((job(i) for i in range(100)), workers=7))
    assert sorted(started) == list(range(100)) and started[:7] == list(range(7))
    assert peak == 7


def test_jobs_are_drawn_from_the_iterator_lazily() -> None:
    counts = {"drawn": 0, "finished": 0, "most_ahead": 0}

    async def run() -> None:
        ahead = counts["drawn"] - counts["finished"]  # taken, not yet done
        counts["most_ahead"] = max(counts["most_ahead"], ahead)
        await asyncio.sleep(0)
        counts["finished"] += 1

    def jobs() -> Iterator[Job]:
        for _ in range(50):
            counts["drawn"] += 1
            yield run

    asyncio.run(run_bounded(jobs(), workers=4))
    assert counts["finished"] == 50 and counts["most_ahead"] <= 4


def test_worker_count_fills_the_slots_and_never_exceeds_the_jobs() -> None:
    assert worker_count(slots=64, jobs=10_000) == 128
    assert worker_count(slots=64, jobs=10) == 10
    assert worker_count(slots=0, jobs=0) == 1
