"""Running a run's coroutine: on uvloop's event loop where uvloop is installed (the `fast`
extra; a loop with less CPU per call in flight), else on asyncio's own."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on the fastest loop installed."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
