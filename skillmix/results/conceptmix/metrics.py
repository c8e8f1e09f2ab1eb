"""ConceptMix metrics per model and k, from the image outcomes (see build for what counts).

- full-mark rate: the share of images (scored or refused) whose every question got Yes, the
  official leaderboard number, with a Wilson 95% interval and an image-level percentile
  bootstrap interval (seeded);
- concept fraction, micro: Yes answers over questions, pooled over images (the official code's
  `average_score_per_image`); macro: the mean over images of each image's Yes share;
- per-category accuracy: the Yes rate of questions by their concept's category (questions of
  no known concept under "unaligned"), per k and over every k;
- the images left out (failed, ungraded, pending) and the items with no question, counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import pandas as pd

from skillmix.results.conceptmix.build import (
    UNALIGNED,
    ImageOutcome,
    ImageOutcomeStatus,
    Outcomes,
)
from skillmix.results.stats.intervals import Interval, bootstrap_ci

CATEGORY_ORDER = ("object", "color", "number", "shape", "size", "texture", "style", "spatial")
NAN_INTERVAL = Interval(math.nan, math.nan)


@dataclass(frozen=True)
class Rate:
    """hits out of total; value nan when total is 0."""

    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else math.nan


@dataclass(frozen=True)
class KMetrics:
    model: str
    k: int
    images: int  # in the rates: scored and refused
    full_marks: int
    full_mark: float  # nan without images
    wilson: Interval
    bootstrap: Interval
    concept_fraction_micro: float
    concept_fraction_macro: float
    categories: dict[str, Rate]
    refused: int
    failed: int
    ungraded: int  # images with a question whose grading call failed for good
    pending: int  # images not drawn yet, or not fully graded yet
    empty_items: int  # items of this k with no question, left out

    @property
    def half_width(self) -> float:
        """Half the Wilson interval's width: the ± of the leaderboard cell."""
        return (self.wilson.high - self.wilson.low) / 2


@dataclass(frozen=True)
class ModelMetrics:
    model: str
    by_k: tuple[KMetrics, ...]  # one per k of the run, in order
    categories: dict[str, Rate]  # over every k

    def at(self, k: int) -> KMetrics | None:
        return next((row for row in self.by_k if row.k == k), None)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval of a binomial proportion (no continuity correction)."""
    if n == 0:
        return NAN_INTERVAL
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def ordered_categories(names: Iterable[str]) -> list[str]:
    """The official categories in their order, then others sorted, then "unaligned"."""
    found = set(names)
    known = [name for name in CATEGORY_ORDER if name in found]
    others = sorted(found - set(CATEGORY_ORDER) - {UNALIGNED})
    return known + others + ([UNALIGNED] if UNALIGNED in found else [])


def category_rates(outcomes: Iterable[ImageOutcome]) -> dict[str, Rate]:
    """The Yes rate of the questions of the images in the rates, per category."""
    hits: dict[str, int] = defaultdict(int)
    totals: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        if not outcome.in_rates:
            continue
        for question, satisfied in zip(outcome.item.questions, outcome.satisfied(), strict=True):
            category = question.category or UNALIGNED
            totals[category] += 1
            hits[category] += satisfied
    return {name: Rate(hits[name], totals[name]) for name in ordered_categories(totals)}


def _count(outcomes: Sequence[ImageOutcome], status: ImageOutcomeStatus) -> int:
    return sum(outcome.status == status for outcome in outcomes)


def _fractions(counted: Sequence[ImageOutcome]) -> tuple[float, float]:
    """(micro, macro) concept fractions of the images in the rates."""
    questions = sum(outcome.questions for outcome in counted)
    if not counted or questions == 0:
        return math.nan, math.nan
    micro = sum(outcome.yes for outcome in counted) / questions
    macro = sum(outcome.yes / outcome.questions for outcome in counted) / len(counted)
    return micro, macro


def k_metrics(
    model: str,
    k: int,
    outcomes: Sequence[ImageOutcome],
    empty_items: int = 0,
    *,
    seed: int = 0,
    resamples: int = 2000,
) -> KMetrics:
    """The metrics of one model's outcomes at one k."""
    counted = [outcome for outcome in outcomes if outcome.in_rates]
    marks = [float(bool(outcome.full_mark)) for outcome in counted]
    full_marks = int(sum(marks))
    micro, macro = _fractions(counted)
    return KMetrics(
        model=model,
        k=k,
        images=len(counted),
        full_marks=full_marks,
        full_mark=full_marks / len(counted) if counted else math.nan,
        wilson=wilson_interval(full_marks, len(counted)),
        bootstrap=bootstrap_ci(marks, resamples=resamples, seed=seed),
        concept_fraction_micro=micro,
        concept_fraction_macro=macro,
        categories=category_rates(counted),
        refused=_count(outcomes, ImageOutcomeStatus.REFUSED),
        failed=_count(outcomes, ImageOutcomeStatus.FAILED),
        ungraded=sum(
            o.status == ImageOutcomeStatus.INCOMPLETE and o.ungraded > 0 for o in outcomes
        ),
        pending=sum(outcome.awaiting for outcome in outcomes),
        empty_items=empty_items,
    )


def run_ks(outcomes: Outcomes) -> list[int]:
    items = [outcome.item for outcome in outcomes.images] + list(outcomes.empty_items)
    return sorted({item.k for item in items})


def conceptmix_metrics(
    outcomes: Outcomes,
    models: Sequence[str] = (),
    ks: Sequence[int] | None = None,
    *,
    seed: int = 0,
    resamples: int = 2000,
) -> list[ModelMetrics]:
    """Per model (`models`, then any other the outcomes hold) and k (`ks`, by default every k
    of the outcomes' items): the metrics of this module's docstring."""
    ks = run_ks(outcomes) if ks is None else list(ks)
    grouped: dict[tuple[str, int], list[ImageOutcome]] = defaultdict(list)
    for outcome in outcomes.images:
        grouped[(outcome.model, outcome.item.k)].append(outcome)
    labels = [*dict.fromkeys([*models, *(outcome.model for outcome in outcomes.images)])]
    empty = [item.k for item in outcomes.empty_items]
    result = []
    for model in labels:
        rows = tuple(
            k_metrics(model, k, grouped[(model, k)], empty.count(k), seed=seed, resamples=resamples)
            for k in ks
        )
        scoped = [outcome for k in ks for outcome in grouped[(model, k)]]
        result.append(ModelMetrics(model, rows, category_rates(scoped)))
    return result


FRAME_COLUMNS = [
    "model",
    "k",
    "metric",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "boot_low",
    "boot_high",
    "refused",
    "failed",
    "ungraded",
    "pending",
]


def _frame_rows(row: KMetrics) -> list[dict[str, object]]:
    counts = {
        "refused": row.refused,
        "failed": row.failed,
        "ungraded": row.ungraded,
        "pending": row.pending,
    }
    questions = sum(rate.total for rate in row.categories.values())
    values: list[tuple[str, float, int, Interval, Interval]] = [
        ("full_mark", row.full_mark, row.images, row.wilson, row.bootstrap),
        (
            "concept_fraction_micro",
            row.concept_fraction_micro,
            questions,
            NAN_INTERVAL,
            NAN_INTERVAL,
        ),
        (
            "concept_fraction_macro",
            row.concept_fraction_macro,
            row.images,
            NAN_INTERVAL,
            NAN_INTERVAL,
        ),
    ]
    for name, rate in row.categories.items():
        interval = wilson_interval(rate.hits, rate.total)
        values.append((f"category:{name}", rate.value, rate.total, interval, NAN_INTERVAL))
    return [
        {
            "model": row.model,
            "k": row.k,
            "metric": metric,
            "value": value,
            "n": n,
            "ci_low": ci.low,
            "ci_high": ci.high,
            "boot_low": boot.low,
            "boot_high": boot.high,
            **counts,
        }
        for metric, value, n, ci, boot in values
    ]


def metrics_frame(metrics: Sequence[ModelMetrics]) -> pd.DataFrame:
    """The metrics in long form: one row per model, k and metric (full_mark with its Wilson
    interval in ci_low/ci_high and its bootstrap interval in boot_low/boot_high; the concept
    fractions; `category:<name>` accuracies with Wilson intervals), with the counts."""
    rows = [entry for model in metrics for row in model.by_k for entry in _frame_rows(row)]
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)
