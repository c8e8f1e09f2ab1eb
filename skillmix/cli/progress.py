"""The live progress line of a running evaluation."""

from __future__ import annotations

import asyncio

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from skillmix.cli.console import errors
from skillmix.run.calls import RunStats
from skillmix.run.runner import Runner


def stats_text(stats: RunStats, concurrency: dict[str, int]) -> str:
    limits = ", ".join(f"{label} {n}" for label, n in concurrency.items())
    return (
        f"in flight {stats.in_flight} (limit {limits}) · calls {stats.calls} "
        f"(stored {stats.cached}) · retries {stats.retries} · re-asks {stats.reasks} · "
        f"unscored {stats.unscored} · failed {stats.failed} · tokens {stats.tokens:,} · "
        f"${stats.spent_usd:.4f}"
    )


async def run_with_progress(runner: Runner, quiet: bool) -> RunStats:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    live = not quiet and errors.is_terminal
    with Progress(*columns, console=errors, disable=not live, transient=False) as progress:
        task = progress.add_task("generations", total=None, stats="")

        def show() -> None:
            stats = runner.stats
            text = stats_text(stats, runner.concurrency())
            progress.update(task, total=stats.total, completed=stats.done, stats=text)

        async def refresh() -> None:
            while True:
                show()
                await asyncio.sleep(0.2)

        ticker = asyncio.create_task(refresh())
        try:
            return await runner.run()
        finally:
            ticker.cancel()
            show()
