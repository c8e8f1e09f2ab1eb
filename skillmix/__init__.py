"""skillmix: the Skill-Mix evaluation harness."""

from skillmix.api import evaluate, load_results
from skillmix.errors import SkillmixError
from skillmix.frames import RunFrames, load_run
from skillmix.report import RunResults, results_frame

__all__ = [
    "RunFrames",
    "RunResults",
    "SkillmixError",
    "evaluate",
    "load_results",
    "load_run",
    "results_frame",
]
__version__ = "0.1.0"
