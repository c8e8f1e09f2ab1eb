"""Agreement between graders (or between the R gradings of one grader): percent agreement,
Krippendorff's alpha (nominal) and Cohen's kappa."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from skillmix.results.stats.arrays import FloatArray, IntArray, as_floats


def _unit_counts(ratings: npt.ArrayLike) -> IntArray:
    """(raters, units) ratings, NaN missing -> (units, categories) counts of each value."""
    array = np.asarray(ratings, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"ratings must be a (raters, units) array, got shape {array.shape}")
    present = ~np.isnan(array)
    categories = np.unique(array[present])
    counts = np.zeros((array.shape[1], len(categories)), dtype=np.int64)
    rater_index, unit_index = np.nonzero(present)
    codes = np.searchsorted(categories, array[rater_index, unit_index])
    np.add.at(counts, (unit_index, codes), 1)
    return counts


def _pairable(counts: IntArray) -> IntArray:
    """The units' rows with at least two ratings."""
    rows: IntArray = counts[counts.sum(axis=1) >= 2]
    return rows


def percent_agreement(ratings: npt.ArrayLike) -> float:
    """Share of agreeing rater pairs, pooled over units with at least two ratings.

    A unit with m ratings has m(m - 1)/2 rater pairs, of which sum_c C(n_c, 2) agree; the
    result is total agreeing pairs / total pairs, so each unit weighs by its number of pairs
    (units rated by more graders count more). nan when no unit has two ratings.
    """
    counts = _pairable(_unit_counts(ratings))
    totals = counts.sum(axis=1)
    pairs = int(np.sum(totals * (totals - 1) // 2))
    if pairs == 0:
        return math.nan
    agreeing = int(np.sum(counts * (counts - 1) // 2))
    return agreeing / pairs


def _coincidences(counts: IntArray) -> FloatArray:
    """Krippendorff's coincidence matrix o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1)."""
    scale = 1 / (counts.sum(axis=1) - 1)
    weighted = counts * scale[:, None]
    matrix: FloatArray = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    return matrix


def krippendorff_alpha_nominal(ratings: npt.ArrayLike) -> float:
    """Krippendorff's alpha for nominal values (any numbers; NaN = missing).

    From the coincidence matrix o (units with fewer than two ratings ignored), with
    n_c = sum_k o_ck and n = sum_c n_c: D_o = sum_{c != k} o_ck / n,
    D_e = sum_{c != k} n_c n_k / (n (n - 1)), alpha = 1 - D_o / D_e; nan when D_e = 0.
    """
    counts = _pairable(_unit_counts(ratings))
    if len(counts) == 0:
        return math.nan
    coincidences = _coincidences(counts)
    marginals = coincidences.sum(axis=1)
    n = float(marginals.sum())
    observed = float(coincidences.sum() - np.trace(coincidences)) / n
    expected = float(marginals.sum() ** 2 - np.sum(marginals**2)) / (n * (n - 1))
    if expected == 0:
        return math.nan
    return 1 - observed / expected


def cohen_kappa(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cohen's kappa (p_o - p_e) / (1 - p_e) for two raters; units where either is NaN dropped.

    p_o is the share of units rated alike, p_e = sum_c p_a(c) p_b(c) from each rater's own
    category shares. nan when no unit is left or p_e = 1.
    """
    first, second = as_floats(a), as_floats(b)
    if len(first) != len(second):
        raise ValueError(f"a has {len(first)} ratings and b has {len(second)}")
    kept = ~(np.isnan(first) | np.isnan(second))
    first, second = first[kept], second[kept]
    if len(first) == 0:
        return math.nan
    categories = np.union1d(first, second)
    share_a = np.array([np.mean(first == c) for c in categories])
    share_b = np.array([np.mean(second == c) for c in categories])
    expected = float(share_a @ share_b)
    if expected == 1:
        return math.nan
    observed = float(np.mean(first == second))
    return (observed - expected) / (1 - expected)
