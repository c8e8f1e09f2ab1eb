"""ConceptMix tables as files: leaderboard.csv in the official performance table's shape
(`Model,k=1,...,k=7`, cells "0.52 ±0.06": the full-mark rate ± the Wilson 95% half-width)
and results.csv, one row per model and k with every figure and count."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from skillmix.results.conceptmix.metrics import KMetrics
from skillmix.results.conceptmix.results import ConceptResults
from skillmix.results.leaderboard import write_csv

RESULTS_COLUMNS = [
    "model",
    "k",
    "images",
    "full_mark",
    "ci_low",
    "ci_high",
    "concept_fraction_micro",
    "concept_fraction_macro",
    "refused",
    "failed",
    "ungraded",
    "pending",
]


def k_header(k: int) -> str:
    return f"k={k}"


def leaderboard_cell(row: KMetrics | None) -> str:
    """ "0.52 ±0.06" (2 decimals), or "" for a k without images."""
    if row is None or row.images == 0 or math.isnan(row.full_mark):
        return ""
    return f"{row.full_mark:.2f} ±{row.half_width:.2f}"


K_COLUMNS = (
    "k",
    "images",
    "full-mark",
    "micro",
    "macro",
    "refused",
    "failed",
    "ungraded",
    "pending",
)


def _fraction(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def k_row_cells(row: KMetrics) -> list[str]:
    """A k row as the terminal and the HTML page show it (K_COLUMNS)."""
    counts = (row.refused, row.failed, row.ungraded, row.pending)
    return [
        str(row.k),
        str(row.images),
        leaderboard_cell(row) or "-",
        _fraction(row.concept_fraction_micro),
        _fraction(row.concept_fraction_macro),
        *(str(count) for count in counts),
    ]


def leaderboard_frame(results: ConceptResults) -> pd.DataFrame:
    """One row per model: its full-mark cell per k of the run, in order."""
    columns = ["Model", *(k_header(k) for k in results.ks)]
    rows = [
        [model.model, *(leaderboard_cell(model.at(k)) for k in results.ks)]
        for model in results.metrics
    ]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _results_row(row: KMetrics) -> list[object]:
    return [
        row.model,
        row.k,
        row.images,
        row.full_mark,
        row.wilson.low,
        row.wilson.high,
        row.concept_fraction_micro,
        row.concept_fraction_macro,
        row.refused,
        row.failed,
        row.ungraded,
        row.pending,
    ]


def results_frame(results: ConceptResults) -> pd.DataFrame:
    """One row per model and k: images in the rates, the full-mark rate and its Wilson 95%
    interval, the concept fractions and the counts of images left out or refused."""
    rows = [_results_row(row) for model in results.metrics for row in model.by_k]
    return pd.DataFrame(rows, columns=RESULTS_COLUMNS)


def write_leaderboard(results: ConceptResults, out: Path) -> pd.DataFrame:
    return write_csv(leaderboard_frame(results), out)


def write_results(results: ConceptResults, out: Path) -> pd.DataFrame:
    return write_csv(results_frame(results), out)
