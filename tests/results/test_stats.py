"""skillmix.stats against scipy and against small cases worked out by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats as scipy_stats  # type: ignore[import-untyped, unused-ignore]

from skillmix.config import NoveltyAssumptions
from skillmix.results.stats import (
    Interval,
    bootstrap_ci,
    cohen_kappa,
    krippendorff_alpha_nominal,
    length_score_correlation,
    mcnemar,
    mean_and_stderr,
    novel_share_bound,
    paired_difference,
    percent_agreement,
    possible_items,
    seen_fraction_bound,
)
from skillmix.results.stats.intervals import _membership

NAN = math.nan


def width(interval: Interval) -> float:
    return interval.high - interval.low


# --- mean and standard error -------------------------------------------------------------------


def test_mean_and_stderr_matches_numpy() -> None:
    values = np.random.default_rng(1).normal(size=50)
    mean, stderr = mean_and_stderr(values)
    assert mean == pytest.approx(np.mean(values))
    assert stderr == pytest.approx(np.std(values, ddof=1) / math.sqrt(50))


def test_mean_and_stderr_small_n() -> None:
    mean, stderr = mean_and_stderr([0.25])
    assert mean == 0.25 and math.isnan(stderr)
    assert all(math.isnan(x) for x in mean_and_stderr([]))
    assert mean_and_stderr([0, 1]) == pytest.approx((0.5, 0.5))  # std 0.7071 / sqrt 2


# --- bootstrap -----------------------------------------------------------------------------------


def assert_matches_scipy(values: npt.NDArray[np.float64], tolerance: float) -> None:
    ours = bootstrap_ci(values, resamples=4000)
    reference = scipy_stats.bootstrap(
        (values,), np.mean, method="percentile", n_resamples=4000, random_state=7
    ).confidence_interval
    assert ours.low == pytest.approx(reference.low, abs=tolerance)
    assert ours.high == pytest.approx(reference.high, abs=tolerance)
    assert ours.low < np.mean(values) < ours.high


def test_bootstrap_matches_scipy_percentile() -> None:
    assert_matches_scipy(np.random.default_rng(2).normal(size=200), 0.02)


@pytest.mark.parametrize("choices", [[0.0, 1.0], [0.0, 0.25, 0.5, 0.75, 1.0], [-1.0, 0.0, 1.0]])
def test_bootstrap_of_repeated_values_matches_scipy(choices: list[float]) -> None:
    """Scores of 0/1, fractions of k, paired differences: the counts of each value are drawn
    (multinomial), which must give scipy's interval of drawing the items themselves."""
    values = np.random.default_rng(4).choice(choices, size=400)
    assert_matches_scipy(values, 0.01)
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)


def test_bootstrap_is_deterministic_per_seed() -> None:
    values = np.random.default_rng(3).random(100)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)
    topics = [i % 7 for i in range(100)]
    clustered = bootstrap_ci(values, seed=5, clusters=[topics])
    assert clustered == bootstrap_ci(values, seed=5, clusters=[topics])


def test_bootstrap_edge_cases() -> None:
    empty = bootstrap_ci([])
    assert math.isnan(empty.low) and math.isnan(empty.high)
    assert bootstrap_ci([0.3] * 10) == Interval(0.3, 0.3)
    assert bootstrap_ci([1.0], clusters=[["t"]]) == Interval(1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], confidence=1.5)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], clusters=[["a"]])  # one label for two values
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], clusters=[[["a"], []]])  # an item with no labels


def clustered_data(n_clusters: int = 20, per_cluster: int = 10) -> tuple[np.ndarray, list[int]]:
    """Values dominated by a shared effect per cluster (sd 1) plus small noise (sd 0.1)."""
    rng = np.random.default_rng(4)
    effects = rng.normal(size=n_clusters)
    labels = [c for c in range(n_clusters) for _ in range(per_cluster)]
    values = effects[labels] + rng.normal(scale=0.1, size=len(labels))
    return values, labels


def test_clustered_bootstrap_is_wider_when_clusters_correlate() -> None:
    values, labels = clustered_data()
    plain = bootstrap_ci(values)
    clustered = bootstrap_ci(values, clusters=[labels])
    # Effective sample size is ~20 clusters, not 200 items: about sqrt(10) times wider.
    assert width(clustered) > 2 * width(plain)
    assert clustered.low < np.mean(values) < clustered.high


def test_two_way_clustered_bootstrap_with_skill_lists() -> None:
    values, topics = clustered_data()
    skills = [[f"s{i % 8}", f"s{(i * 3 + 1) % 8}"] for i in range(len(values))]
    plain = bootstrap_ci(values)
    two_way = bootstrap_ci(values, clusters=[topics, skills])
    assert width(two_way) > 2 * width(plain)
    assert two_way.low < np.mean(values) < two_way.high


def test_singleton_clusters_behave_like_the_plain_bootstrap() -> None:
    values = np.random.default_rng(5).normal(size=200)
    plain = bootstrap_ci(values, resamples=4000)
    singletons = bootstrap_ci(values, resamples=4000, clusters=[np.arange(200)])
    assert singletons.low == pytest.approx(plain.low, abs=0.03)
    assert singletons.high == pytest.approx(plain.high, abs=0.03)


def test_multi_label_weight_is_mean_of_label_counts() -> None:
    membership = _membership([["a", "b"], "a", ("b", "c", "a")], 3)
    assert membership.n_labels == 3
    counts = np.array([[2, 0, 1], [0, 3, 0]])  # draw counts of a, b, c in two resamples
    expected = [[(2 + 0) / 2, 2, (0 + 1 + 2) / 3], [(0 + 3) / 2, 0, (3 + 0 + 0) / 3]]
    np.testing.assert_allclose(membership.weights(counts), expected)


# --- paired difference ---------------------------------------------------------------------------


def test_paired_difference_is_narrow_for_correlated_models() -> None:
    rng = np.random.default_rng(6)
    base = rng.normal(size=200)
    a = base + 0.1 + rng.normal(scale=0.05, size=200)
    b = base
    result = paired_difference(a, b)
    assert result.n == 200
    assert result.difference == pytest.approx(np.mean(a - b))
    assert result.interval.low < 0.1 < result.interval.high
    # An unpaired bootstrap of mean(a) - mean(b) has width about sqrt(w_a^2 + w_b^2).
    unpaired = math.hypot(width(bootstrap_ci(a, seed=1)), width(bootstrap_ci(b, seed=2)))
    assert width(result.interval) < unpaired / 5


def test_paired_difference_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


# --- McNemar -------------------------------------------------------------------------------------


def paired_outcomes(
    a_only: int, b_only: int, both: int = 5, neither: int = 3
) -> tuple[list[bool], list[bool]]:
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return a, b


def test_mcnemar_exact_by_hand() -> None:
    result = mcnemar(*paired_outcomes(10, 2))
    # Two-sided exact: 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
    assert result.method == "exact"
    assert (result.a_only, result.b_only) == (10, 2)
    assert result.p_value == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(10, 12, 0.5).pvalue)


def test_mcnemar_chi_square_with_continuity_correction() -> None:
    result = mcnemar(*paired_outcomes(20, 8))
    statistic = (abs(20 - 8) - 1) ** 2 / 28
    assert result.method == "chi2"
    assert result.statistic == pytest.approx(statistic)
    # Chi-square with 1 dof: P(X > x) = erfc(sqrt(x / 2)).
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(statistic / 2)))
    assert result.p_value == pytest.approx(scipy_stats.chi2.sf(statistic, 1))


def test_mcnemar_without_discordant_pairs_or_with_balance() -> None:
    assert mcnemar(*paired_outcomes(0, 0)).p_value == 1.0
    balanced = mcnemar(*paired_outcomes(15, 15))
    assert balanced.method == "chi2" and balanced.p_value == pytest.approx(1.0)
    with pytest.raises(ValueError):
        mcnemar([0, 2], [1, 1])


# --- grader agreement ----------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers x 12 units,
# nominal values 1-5, missing values; the paper gives alpha = 0.743.
KRIPPENDORFF_EXAMPLE: list[list[float]] = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]

# Three graders, four units, one missing each for graders 1 and 3 and two for grader 3.
BINARY_WITH_MISSING: list[list[float]] = [
    [1, 1, 0, NAN],
    [1, 0, 0, 1],
    [NAN, 1, 0, NAN],
]


def test_krippendorff_classic_example() -> None:
    assert krippendorff_alpha_nominal(KRIPPENDORFF_EXAMPLE) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_binary_by_hand() -> None:
    # Coincidences (each ordered pair of a unit's values weighs 1 / (m_u - 1)):
    # unit 1 (1,1): o11 += 2; unit 2 (1,0,1): o10 += 1, o01 += 1, o11 += 1;
    # unit 3 (0,0,0): o00 += 3; unit 4 has one rating and is ignored.
    # o = [[3, 1], [1, 3]], n0 = n1 = 4, n = 8: alpha = 1 - (n - 1) * 2 / (2 * 4 * 4) = 18/32.
    assert krippendorff_alpha_nominal(BINARY_WITH_MISSING) == pytest.approx(18 / 32)
    # Two graders, no missing: (0,0), (1,1), (0,1), (1,1) gives o = [[2, 1], [1, 4]],
    # n0 = 3, n1 = 5, n = 8: alpha = 1 - 7 * 2 / (2 * 3 * 5) = 16/30.
    assert krippendorff_alpha_nominal([[0, 1, 0, 1], [0, 1, 1, 1]]) == pytest.approx(16 / 30)


def test_krippendorff_extremes() -> None:
    perfect: list[list[float]] = [[0, 1, 1, 0], [0, 1, 1, 0], [0, NAN, 1, 0]]
    assert krippendorff_alpha_nominal(perfect) == 1.0
    assert math.isnan(krippendorff_alpha_nominal([[1, 1, 1], [1, 1, 1]]))  # no variation
    assert math.isnan(krippendorff_alpha_nominal([[1, NAN], [NAN, 0]]))  # no pairable unit


def test_percent_agreement_small_cases() -> None:
    # Unit pairs: 1 of 1, 1 of 3, 3 of 3 agree; unit 4 is unpaired: 5 of 7 pairs.
    assert percent_agreement(BINARY_WITH_MISSING) == pytest.approx(5 / 7)
    assert percent_agreement([[1, 0, 1], [1, 1, 1]]) == pytest.approx(2 / 3)
    assert percent_agreement([[0, 1], [0, 1]]) == 1.0
    assert math.isnan(percent_agreement([[1, NAN], [NAN, 0]]))


def test_cohen_kappa_by_hand() -> None:
    # 2x2 table (rows A, columns B):     B yes  B no
    #                           A yes      20      5
    #                           A no       10     15
    # p_o = 35/50 = 0.7; A says yes 0.5, B says yes 0.6; p_e = 0.5*0.6 + 0.5*0.4 = 0.5;
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([*a, NAN, 1], [*b, 0, NAN]) == pytest.approx(0.4)  # NaN pairs dropped
    assert cohen_kappa([0, 1, 1], [0, 1, 1]) == 1.0
    assert math.isnan(cohen_kappa([1, 1], [1, 1]))  # p_e = 1


# --- length and score ----------------------------------------------------------------------------


def test_length_score_correlation_matches_scipy() -> None:
    rng = np.random.default_rng(8)
    lengths = rng.integers(50, 400, size=40).astype(float)
    scores = lengths / 400 + rng.normal(scale=0.3, size=40)
    result = length_score_correlation(lengths, scores)
    reference = scipy_stats.spearmanr(lengths, scores)
    assert result.n == 40
    assert result.rho == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)


def test_length_score_correlation_degenerate() -> None:
    assert math.isnan(length_score_correlation([1, 2], [1, 0]).rho)
    assert math.isnan(length_score_correlation([1, 2, 3], [1, 1, 1]).p_value)
    dropped = length_score_correlation([1, 2, 3, NAN], [0, 1, 2, 3])
    assert dropped.n == 3 and dropped.rho == pytest.approx(1.0)


# --- novelty -------------------------------------------------------------------------------------


def test_possible_items() -> None:
    assert possible_items(101, 100, 5) == 7_920_874_500


def test_seen_fraction_bound() -> None:
    defaults = NoveltyAssumptions()
    bounds = [seen_fraction_bound(k, defaults) for k in range(1, 9)]
    assert all(x >= y for x, y in itertools.pairwise(bounds))
    assert bounds[3:] == sorted(bounds[3:], reverse=True) and len(set(bounds[3:])) == 5
    assert bounds[0] == 1.0  # 0.01 * 0.001 * 1e9 = 1e4, capped
    assert seen_fraction_bound(4, defaults) == pytest.approx(0.01)  # 1e-8 * 1e-3 * 1e9


def test_novel_share_bound_by_hand() -> None:
    defaults = NoveltyAssumptions()
    assert novel_share_bound(0.5, 4, defaults) == pytest.approx(1 - 0.01 / 0.5)  # 0.98
    assert novel_share_bound(0.005, 4, defaults) == 0.0  # could all be memorised
    assert novel_share_bound(0.0, 4, defaults) == 0.0
    custom = NoveltyAssumptions(skill_frequency=0.1, topic_frequency=0.01, corpus_pieces=1e5)
    # seen <= 1e-4 * 1e-2 * 1e5 = 0.1 at k = 4, so at least 1 - 0.1 / 0.4 = 0.75 are novel.
    assert novel_share_bound(0.4, 4, custom) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        NoveltyAssumptions(skill_frequency=2.0)
