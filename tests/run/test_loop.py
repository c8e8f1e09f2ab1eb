"""A run's coroutine runs on uvloop's event loop when uvloop is installed (the test command
installs it), else on asyncio's; either way its value comes back."""

from __future__ import annotations

import asyncio
import importlib.util

from skillmix.run.loop import loop_factory, run_async


async def loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_a_run_takes_uvloop_where_it_is_installed() -> None:
    installed = importlib.util.find_spec("uvloop") is not None
    assert (loop_factory() is not None) == installed
    module = run_async(loop_module())
    assert module.startswith("uvloop") == installed
