"""skillmix: the Skill-Mix evaluation harness."""

from skillmix.errors import SkillmixError

__all__ = ["SkillmixError"]
__version__ = "0.1.0"
