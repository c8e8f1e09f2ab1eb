"""Two models on the same items (paired bootstrap difference, McNemar's test), and the
correlation of answer length with score."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from skillmix.results.stats.arrays import as_floats
from skillmix.results.stats.intervals import Interval, bootstrap_ci

EXACT_MCNEMAR_BELOW = 25  # discordant pairs under which McNemar's test is the exact binomial


@dataclass(frozen=True)
class PairedDifference:
    """Mean of a - b over items, with a paired bootstrap interval."""

    difference: float
    interval: Interval
    n: int


@dataclass(frozen=True)
class McNemar:
    """McNemar's test. statistic: a_only for the exact test, the chi-square value otherwise."""

    a_only: int
    b_only: int
    statistic: float
    p_value: float
    method: Literal["exact", "chi2"]


@dataclass(frozen=True)
class Correlation:
    rho: float
    p_value: float
    n: int


def paired_difference(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> PairedDifference:
    """Mean of a - b over the same items, with a paired percentile bootstrap interval.

    The bootstrap resamples item indices jointly for a and b, which is the plain bootstrap of
    the per-item differences a_i - b_i.
    """
    first, second = as_floats(a), as_floats(b)
    if len(first) != len(second):
        raise ValueError(f"a has {len(first)} items and b has {len(second)}")
    differences = first - second
    mean = float(np.mean(differences)) if len(differences) else math.nan
    interval = bootstrap_ci(differences, confidence=confidence, resamples=resamples, seed=seed)
    return PairedDifference(mean, interval, len(differences))


def _as_booleans(values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    array = np.asarray(values)
    if array.ndim != 1 or not np.isin(array, [0, 1]).all():
        raise ValueError("expected a 1-D array of booleans (or 0/1)")
    return array.astype(bool)


def mcnemar(a: npt.ArrayLike, b: npt.ArrayLike) -> McNemar:
    """McNemar's test on paired binary outcomes (e.g. full marks for models A and B per item).

    With b = a_only and c = b_only discordant pairs: when b + c < 25, the exact two-sided
    binomial test of b successes in b + c trials with p = 0.5 (statistic = b); otherwise
    the continuity-corrected chi-square max(0, |b - c| - 1)**2 / (b + c) on 1 degree of freedom
    (the max(0, .) makes b = c give statistic 0 and p = 1, as R's mcnemar.test does).
    No discordant pairs gives p = 1.
    """
    from scipy import stats as scipy_stats  # type: ignore[import-untyped, unused-ignore]

    first, second = _as_booleans(a), _as_booleans(b)
    if len(first) != len(second):
        raise ValueError(f"a has {len(first)} items and b has {len(second)}")
    a_only = int(np.sum(first & ~second))
    b_only = int(np.sum(~first & second))
    discordant = a_only + b_only
    if discordant == 0:
        return McNemar(0, 0, 0.0, 1.0, "exact")
    if discordant < EXACT_MCNEMAR_BELOW:
        p_value = float(scipy_stats.binomtest(a_only, discordant, 0.5).pvalue)
        return McNemar(a_only, b_only, float(a_only), p_value, "exact")
    statistic = max(0, abs(a_only - b_only) - 1) ** 2 / discordant
    p_value = float(scipy_stats.chi2.sf(statistic, 1))
    return McNemar(a_only, b_only, statistic, p_value, "chi2")


def length_score_correlation(lengths: npt.ArrayLike, scores: npt.ArrayLike) -> Correlation:
    """Spearman's rho (scipy.stats.spearmanr) of answer length with score.

    Pairs with a NaN are dropped; rho and p are nan when fewer than 3 pairs remain or either
    side is constant.
    """
    from scipy import stats as scipy_stats  # type: ignore[import-untyped, unused-ignore]

    x, y = as_floats(lengths), as_floats(scores)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} lengths and {len(y)} scores")
    kept = ~(np.isnan(x) | np.isnan(y))
    x, y = x[kept], y[kept]
    n = len(x)
    if n < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return Correlation(math.nan, math.nan, n)
    result = scipy_stats.spearmanr(x, y)
    return Correlation(float(result.statistic), float(result.pvalue), n)
