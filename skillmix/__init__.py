"""skillmix: the Skill-Mix evaluation harness."""

from skillmix.api import evaluate, load_run
from skillmix.errors import SkillmixError
from skillmix.report import RunResults, results_frame

__all__ = ["RunResults", "SkillmixError", "evaluate", "load_run", "results_frame"]
__version__ = "0.1.0"
