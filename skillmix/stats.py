"""Statistics for Skill-Mix results: uncertainty, model comparisons, grader agreement, novelty.

Everything here is a pure function on numpy arrays or sequences; nothing reads or writes files.

- ``mean_and_stderr``: the paper's mean and standard error, std(ddof=1) / sqrt(n).
- ``bootstrap_ci``: percentile bootstrap of a mean, plain or multiway-clustered ("pigeonhole").
- ``paired_difference`` and ``mcnemar``: two models graded on the same items.
- ``percent_agreement``, ``krippendorff_alpha_nominal``, ``cohen_kappa``: grader agreement.
- ``length_score_correlation``: Spearman correlation of answer length with score.
- ``possible_items``, ``seen_fraction_bound``, ``novel_share_bound``: the novelty argument.

The novelty argument ("beyond stochastic parrots"). An item is k skills plus a topic. If a
given skill shows in a share p_s of the corpus's text pieces, a given topic in a share p_t,
and they occur independently, a given item shows in about p_s**k * p_t * L of the L pieces.
By Markov's inequality the chance that a random item shows in the corpus at all is at most
that expected count (capped at 1). A model that succeeds on a share s of random items,
while at most a share f of items can ever have been seen, must have succeeded on at least
s - f of them without having seen them: a share of at least 1 - f / s of its successes.
The defaults of ``NoveltyAssumptions`` are illustrative upper-bound guesses; set p_s, p_t and
L from what you know of the model's training corpus (larger values give weaker bounds).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats  # type: ignore[import-untyped, unused-ignore]

from skillmix.novelty import possible_items

__all__ = [
    "Correlation",
    "Interval",
    "McNemar",
    "NoveltyAssumptions",
    "PairedDifference",
    "bootstrap_ci",
    "cohen_kappa",
    "krippendorff_alpha_nominal",
    "length_score_correlation",
    "mcnemar",
    "mean_and_stderr",
    "novel_share_bound",
    "paired_difference",
    "percent_agreement",
    "possible_items",
    "seen_fraction_bound",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# One clustering dimension: per item, either one label or a list (tuple, set, array) of labels.
LabelColumn = Sequence[object] | npt.NDArray[Any]
MULTI_LABEL_TYPES = (list, tuple, set, frozenset, np.ndarray)
EXACT_MCNEMAR_BELOW = 25  # discordant pairs under which McNemar's test is the exact binomial
CHUNK_ELEMENTS = 1 << 21  # bootstrap work arrays are kept under this many elements


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


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


# ---------------------------------------------------------------------------------------------
# Means and bootstrap intervals


def _as_floats(values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D array of values, got shape {array.shape}")
    return array


def mean_and_stderr(values: npt.ArrayLike) -> tuple[float, float]:
    """Mean and standard error std(ddof=1) / sqrt(n); stderr nan for n < 2, both nan for n = 0."""
    array = _as_floats(values)
    n = len(array)
    if n == 0:
        return math.nan, math.nan
    stderr = float(np.std(array, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(np.mean(array)), stderr


def _check_bootstrap_args(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")


def _percentile_interval(estimates: FloatArray, confidence: float) -> Interval:
    """The (1 - confidence) / 2 and (1 + confidence) / 2 quantiles (numpy's linear method)."""
    estimates = estimates[~np.isnan(estimates)]
    if len(estimates) == 0:
        return Interval(math.nan, math.nan)
    low, high = np.quantile(estimates, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(float(low), float(high))


def _chunk_sizes(resamples: int, width: int) -> list[int]:
    """Split resamples into chunks whose (chunk, width) work arrays stay small."""
    size = max(1, CHUNK_ELEMENTS // max(width, 1))
    return [min(size, resamples - start) for start in range(0, resamples, size)]


def _plain_bootstrap_means(
    values: FloatArray, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """Means of `resamples` resamples of the items, drawn with replacement."""
    n = len(values)
    means = [
        values[rng.integers(0, n, size=(chunk, n))].mean(axis=1)
        for chunk in _chunk_sizes(resamples, n)
    ]
    return np.concatenate(means)


@dataclass(frozen=True)
class _Membership:
    """Items' labels in one clustering dimension, flattened.

    Item i holds labels codes[starts[i]:starts[i + 1]], each with share 1 / (its label count),
    so that its weight, sum of share * count over its labels, is the mean of its labels' counts.
    """

    codes: IntArray
    shares: FloatArray
    starts: IntArray
    n_labels: int

    def weights(self, label_counts: IntArray) -> FloatArray:
        """(resamples, labels) draw counts -> (resamples, items) weights."""
        per_label = label_counts[:, self.codes] * self.shares
        return np.add.reduceat(per_label, self.starts[:-1], axis=1)


def _item_labels(entry: object) -> list[Hashable]:
    labels = list(entry) if isinstance(entry, MULTI_LABEL_TYPES) else [entry]
    if not labels:
        raise ValueError("an item has an empty list of cluster labels")
    for label in labels:
        if not isinstance(label, Hashable):
            raise ValueError(f"cluster label {label!r} is not hashable")
    return labels


def _membership(column: LabelColumn, n: int) -> _Membership:
    if len(column) != n:
        raise ValueError(f"a cluster dimension has {len(column)} labels for {n} values")
    index: dict[Hashable, int] = {}
    codes: list[int] = []
    shares: list[float] = []
    starts = [0]
    for entry in column:
        labels = _item_labels(entry)
        codes.extend(index.setdefault(label, len(index)) for label in labels)
        shares.extend([1 / len(labels)] * len(labels))
        starts.append(len(codes))
    return _Membership(
        np.array(codes, dtype=np.int64),
        np.array(shares, dtype=np.float64),
        np.array(starts, dtype=np.int64),
        len(index),
    )


def _pigeonhole_means(
    values: FloatArray,
    dimensions: list[_Membership],
    resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Weighted means under the pigeonhole bootstrap; nan where every weight is 0."""
    width = max(len(values), *(len(d.codes) for d in dimensions))
    means = []
    for chunk in _chunk_sizes(resamples, width):
        weights = np.ones((chunk, len(values)))
        for dimension in dimensions:
            g = dimension.n_labels
            label_counts = rng.multinomial(g, np.full(g, 1 / g), size=chunk)
            weights *= dimension.weights(label_counts)
        totals = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(np.where(totals > 0, weights @ values / totals, np.nan))
    return np.concatenate(means)


def bootstrap_ci(
    values: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    clusters: Sequence[LabelColumn] | None = None,
) -> Interval:
    """Percentile bootstrap interval for the mean of `values`; deterministic for a given seed.

    Without `clusters`, each resample draws n items with replacement; the interval is the
    (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the resample means.

    With `clusters` (one label column per clustering dimension, e.g. topics and skills, each
    as long as `values`), the multiway "pigeonhole" bootstrap (Owen 2007; Cameron, Gelbach and
    Miller 2011) is used instead, which keeps items that share a topic or a skill together:
    in each resample and for each dimension, its G distinct labels are drawn G times with
    replacement (multinomial counts, mean 1 each); an item's weight is the product over
    dimensions of its label's count, and the resample's estimate is the weighted mean
    sum(w * y) / sum(w). An item may list several labels in a dimension (its k skills): its
    weight in that dimension is then the mean of those labels' counts. Resamples whose weights
    are all 0 (possible with two or more dimensions) are discarded.

    n = 0 gives (nan, nan); values all equal give the degenerate interval (v, v).
    """
    _check_bootstrap_args(confidence, resamples)
    array = _as_floats(values)
    if len(array) == 0:
        return Interval(math.nan, math.nan)
    if np.all(array == array[0]):
        return Interval(float(array[0]), float(array[0]))
    rng = np.random.default_rng(seed)
    if clusters is None:
        return _percentile_interval(_plain_bootstrap_means(array, resamples, rng), confidence)
    if len(clusters) == 0:
        raise ValueError("clusters must name at least one dimension (or be None)")
    dimensions = [_membership(column, len(array)) for column in clusters]
    means = _pigeonhole_means(array, dimensions, resamples, rng)
    return _percentile_interval(means, confidence)


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
    first, second = _as_floats(a), _as_floats(b)
    if len(first) != len(second):
        raise ValueError(f"a has {len(first)} items and b has {len(second)}")
    differences = first - second
    mean = float(np.mean(differences)) if len(differences) else math.nan
    interval = bootstrap_ci(differences, confidence=confidence, resamples=resamples, seed=seed)
    return PairedDifference(mean, interval, len(differences))


# ---------------------------------------------------------------------------------------------
# McNemar


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


# ---------------------------------------------------------------------------------------------
# Grader agreement


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
    first, second = _as_floats(a), _as_floats(b)
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


# ---------------------------------------------------------------------------------------------
# Length and score


def length_score_correlation(lengths: npt.ArrayLike, scores: npt.ArrayLike) -> Correlation:
    """Spearman's rho (scipy.stats.spearmanr) of answer length with score.

    Pairs with a NaN are dropped; rho and p are nan when fewer than 3 pairs remain or either
    side is constant.
    """
    x, y = _as_floats(lengths), _as_floats(scores)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} lengths and {len(y)} scores")
    kept = ~(np.isnan(x) | np.isnan(y))
    x, y = x[kept], y[kept]
    n = len(x)
    if n < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return Correlation(math.nan, math.nan, n)
    result = scipy_stats.spearmanr(x, y)
    return Correlation(float(result.statistic), float(result.pvalue), n)


# ---------------------------------------------------------------------------------------------
# Novelty


@dataclass(frozen=True)
class NoveltyAssumptions:
    """Upper-bound guesses about the training corpus; set them from what you know of it."""

    skill_frequency: float = 0.01  # p_s: share of training text pieces showing a given skill
    topic_frequency: float = 0.001  # p_t: share of pieces about a given topic
    corpus_pieces: float = 1e9  # L: number of text pieces in the training corpus

    def __post_init__(self) -> None:
        for name in ("skill_frequency", "topic_frequency"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.corpus_pieces < 0:
            raise ValueError("corpus_pieces must not be negative")


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
