"""The paper's mean and standard error, and percentile bootstrap intervals of a mean (plain, or
multiway-clustered "pigeonhole")."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skillmix.results.stats.arrays import FloatArray, IntArray, as_floats

# One clustering dimension: per item, either one label or a list (tuple, set, array) of labels.
LabelColumn = Sequence[object] | npt.NDArray[Any]
MULTI_LABEL_TYPES = (list, tuple, set, frozenset, np.ndarray)
CHUNK_ELEMENTS = 1 << 21  # bootstrap work arrays are kept under this many elements


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def mean_and_stderr(values: npt.ArrayLike) -> tuple[float, float]:
    """Mean and standard error std(ddof=1) / sqrt(n); stderr nan for n < 2, both nan for n = 0."""
    array = as_floats(values)
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
    """Means of `resamples` resamples of the items, drawn with replacement. A resample's mean
    depends only on how often each distinct value is drawn, and those counts are multinomial
    (n draws over the values' shares): where the values repeat (scores of 0/1, fractions of
    k), the counts are drawn instead of the n items, the same distribution in far less work."""
    n = len(values)
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) * 4 <= n:
        drawn = rng.multinomial(n, counts / n, size=resamples)
        return np.asarray(drawn @ distinct / n, dtype=np.float64)
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
    array = as_floats(values)
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
