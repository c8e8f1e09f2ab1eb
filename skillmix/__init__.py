"""skillmix: the Skill-Mix evaluation harness.

The public API: `evaluate` a config, `load_results` / `load_run` a run directory
(`load_conceptmix` a ConceptMix run's),
`results_frame` of results, and `skillmix.analysis` for the tables that explain a run.
Attributes that need pandas are imported on first use, so `import skillmix` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skillmix.errors import SkillmixError

if TYPE_CHECKING:
    from skillmix.api import evaluate, load_results
    from skillmix.results.build import RunResults
    from skillmix.results.conceptmix.load import load_conceptmix
    from skillmix.results.frames import RunFrames, load_run
    from skillmix.results.leaderboard import results_frame

__all__ = [
    "RunFrames",
    "RunResults",
    "SkillmixError",
    "analysis",
    "evaluate",
    "load_conceptmix",
    "load_results",
    "load_run",
    "results_frame",
]
__version__ = "0.1.0"

_LAZY = {
    "evaluate": "skillmix.api",
    "load_results": "skillmix.api",
    "RunResults": "skillmix.results.build",
    "RunFrames": "skillmix.results.frames",
    "load_run": "skillmix.results.frames",
    "load_conceptmix": "skillmix.results.conceptmix.load",
    "results_frame": "skillmix.results.leaderboard",
}


def __getattr__(name: str) -> Any:
    if name == "analysis":
        return importlib.import_module("skillmix.analysis")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skillmix' has no attribute {name!r}")
