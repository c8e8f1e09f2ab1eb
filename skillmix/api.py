"""The Python API: run an evaluation and read its results without the CLI.

import skillmix
results = skillmix.evaluate("configs/quickstart.yaml")
frame = skillmix.results_frame(results)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from skillmix.config import RunConfig
from skillmix.errors import SkillmixError
from skillmix.results.build import RunResults
from skillmix.results.build import load_results as results_of
from skillmix.run.plan import RunPlan, build_plan
from skillmix.run.runner import Runner
from skillmix.run.store import RunStore


def open_run(plan: RunPlan) -> RunStore:
    """The plan's run store, created or reopened, with its configuration and items recorded."""
    store = RunStore(plan.config.output_dir)
    if store.get_meta("source") is not None:
        store.close()
        raise SkillmixError(
            "holds an imported official run: give the evaluation its own output_dir",
            file=plan.config.output_dir,
        )
    store.set_meta("config", plan.config.model_dump_json())
    store.set_meta("catalog_hash", plan.catalog.content_hash)
    store.set_meta("prompt_hash", plan.prompts.content_hash)
    catalog = plan.catalog
    sizes = {
        "skills": len(catalog.skills),
        "common": sum(s.common for s in catalog.skills),
        "topics": len(catalog.topics),
    }
    store.set_meta("catalog_sizes", json.dumps(sizes))
    store.put_items(plan.items)
    return store


def evaluate(config: RunConfig | dict[str, Any] | Path | str) -> RunResults:
    """Run (or resume) an evaluation and return its results."""
    plan = build_plan(config)
    store = open_run(plan)
    try:
        asyncio.run(Runner(plan, store).run())
        return results_of(store)
    finally:
        store.close()


def load_results(run_dir: Path | str) -> RunResults:
    """The model x k x metric results of a run directory."""
    store = RunStore.open_existing(Path(run_dir))
    try:
        return results_of(store)
    finally:
        store.close()
