"""Bounds of the novelty argument: how many items a corpus could hold, and how many successes
must be on unseen items."""

from __future__ import annotations

from skillmix.config import NoveltyAssumptions


def seen_fraction_bound(k: int, a: NoveltyAssumptions) -> float:
    """Upper bound min(1, p_s**k * p_t * L) on the chance a random item appears in the corpus.

    p_s**k * p_t * L is the expected number of pieces showing a given item (skills and topic
    independent); by Markov's inequality it bounds the chance of at least one.
    """
    if k < 0:
        raise ValueError(f"k must not be negative, got {k}")
    return min(1.0, a.skill_frequency**k * a.topic_frequency * a.corpus_pieces)


def novel_share_bound(success_rate: float, k: int, a: NoveltyAssumptions) -> float:
    """Lower bound max(0, 1 - seen / success_rate) on the share of successes on unseen items.

    seen is ``seen_fraction_bound(k, a)``. With success_rate = 0 there are no successes to
    bound, and the result is 0.
    """
    if not 0 <= success_rate <= 1:
        raise ValueError(f"success_rate must be between 0 and 1, got {success_rate}")
    if success_rate == 0:
        return 0.0
    return max(0.0, 1 - seen_fraction_bound(k, a) / success_rate)
