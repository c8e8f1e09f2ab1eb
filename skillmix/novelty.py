"""How many distinct items a catalog allows: the paper's argument against memorisation."""

from __future__ import annotations

from math import comb


def possible_items(n_skills: int, n_topics: int, k: int) -> int:
    """C(N, k) * T distinct (skill set, topic) items."""
    return comb(n_skills, k) * n_topics
