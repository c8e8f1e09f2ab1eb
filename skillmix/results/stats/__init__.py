"""Statistics for Skill-Mix results: uncertainty, model comparisons, grader agreement, novelty.

Everything here is a pure function on numpy arrays or sequences; nothing reads or writes files.
Each concern has its own module; this package re-exports them.

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

from skillmix.config import NoveltyAssumptions
from skillmix.protocol.sampler import possible_items
from skillmix.results.stats.agreement import (
    cohen_kappa,
    krippendorff_alpha_nominal,
    percent_agreement,
)
from skillmix.results.stats.comparisons import (
    Correlation,
    McNemar,
    PairedDifference,
    length_score_correlation,
    mcnemar,
    paired_difference,
)
from skillmix.results.stats.intervals import Interval, bootstrap_ci, mean_and_stderr
from skillmix.results.stats.novelty import novel_share_bound, seen_fraction_bound

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
