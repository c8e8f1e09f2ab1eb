"""The Python API: run an evaluation and read its results without the CLI.

import skillmix
results = skillmix.evaluate("configs/quickstart.yaml")
frame = skillmix.results_frame(results)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillmix.config import RunConfig
from skillmix.results.build import RunResults
from skillmix.results.build import load_results as results_of
from skillmix.run.loop import run_async
from skillmix.run.opening import open_run
from skillmix.run.plan import build_plan
from skillmix.run.regrade import config_graders
from skillmix.run.runner import Runner
from skillmix.run.store import RunStore


def evaluate(config: RunConfig | dict[str, Any] | Path | str) -> RunResults:
    """Run (or resume) an evaluation and return its results."""
    plan = build_plan(config)
    store = open_run(plan)
    try:
        run_async(Runner(plan, store).run())
        for regrader in config_graders(plan, store):  # the config's other graders
            run_async(regrader.run())
        return results_of(store)
    finally:
        store.close()


def load_results(run_dir: Path | str) -> RunResults:
    """The model x k x metric results of a run directory."""
    store = RunStore.open_for_reading(Path(run_dir))
    try:
        return results_of(store)
    finally:
        store.close()
