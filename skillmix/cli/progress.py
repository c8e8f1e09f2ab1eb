"""The live progress line of a running evaluation."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Protocol

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from skillmix.cli.console import errors
from skillmix.run.calls import RunStats, StoredCalls


class Runner(Protocol):
    """What the progress line drives: a Skill-Mix, re-grade or ConceptMix runner."""

    calls: StoredCalls

    @property
    def stats(self) -> RunStats: ...

    def concurrency(self) -> dict[str, int]: ...

    async def run(self) -> RunStats: ...


GRACE_S = 10.0  # after Ctrl-C, for the calls in flight to come back and be stored


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
            if batches := runner.calls.batch_line():
                text += f" · {batches}"
            progress.update(task, total=stats.total, completed=stats.done, stats=text)

        async def refresh() -> None:
            while True:
                show()
                await asyncio.sleep(0.2)

        ticker = asyncio.create_task(refresh())
        try:
            with graceful_interrupt(runner):
                return await runner.run()
        finally:
            ticker.cancel()
            show()


@contextlib.contextmanager
def graceful_interrupt(runner: Runner) -> Iterator[None]:
    """The first Ctrl-C starts no new call and lets the calls in flight finish and be stored
    (for up to GRACE_S); a second Ctrl-C, or the end of the grace, stops at once. Stopping
    comes out as KeyboardInterrupt."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    deadline: list[asyncio.TimerHandle] = []

    def on_interrupt() -> None:
        if runner.stats.interrupted and main is not None:
            main.cancel()
            return
        runner.calls.stop()
        if main is not None:
            deadline.append(loop.call_later(GRACE_S, main.cancel))

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    except (NotImplementedError, RuntimeError):  # no signal handlers here: Ctrl-C as usual
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        for handle in deadline:
            handle.cancel()
