"""`skillmix.analysis`: the tables that explain a run (public name of skillmix.results.analysis)."""

from skillmix.results.analysis import (
    compare,
    counted_scores,
    grader_agreement,
    hardest_skills,
    length_and_score,
    novelty,
    skill_breakdown,
    uncertainty,
)
from skillmix.results.cross_grader import cross_grader_agreement, disagreements

__all__ = [
    "compare",
    "counted_scores",
    "cross_grader_agreement",
    "disagreements",
    "grader_agreement",
    "hardest_skills",
    "length_and_score",
    "novelty",
    "skill_breakdown",
    "uncertainty",
]
