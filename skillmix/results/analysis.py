"""Tables that explain a run: uncertainty, paired comparisons, per-skill rates, grader
agreement, answer length, novelty. Each takes RunFrames and returns a DataFrame."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from skillmix.config import NoveltyAssumptions
from skillmix.records import GradingStatus, OutcomeStatus
from skillmix.results.frames import RunFrames
from skillmix.results.metrics import METRICS
from skillmix.results.stats import (
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


def counted_scores(frames: RunFrames) -> pd.DataFrame:
    """The items that enter the metrics: scored ones, and unscored ones at 0 (items with a
    common skill dropped if so configured)."""
    scores = frames.scores
    graded = scores["status"].isin([OutcomeStatus.SCORED, OutcomeStatus.UNSCORED])
    return scores[graded & scores["counted"]].merge(
        frames.items[["item_id", "skills", "topic"]], on="item_id"
    )


def uncertainty(
    frames: RunFrames, *, resamples: int = 2000, seed: int = 0, clustered: bool = False
) -> pd.DataFrame:
    """Per student x k x metric: mean, standard error (paper) and a bootstrap interval over
    items; `clustered` resamples topics and skills too, since items share them."""
    rows = []
    for (student, k), group in counted_scores(frames).groupby(["student", "k"], sort=True):
        clusters = [group["topic"].tolist(), group["skills"].tolist()] if clustered else None
        for metric in METRICS:
            values = group[metric].to_numpy(dtype=float)
            mean, stderr = mean_and_stderr(values)
            interval = bootstrap_ci(values, resamples=resamples, seed=seed, clusters=clusters)
            rows.append(
                {
                    "student": student,
                    "k": k,
                    "metric": metric,
                    "mean": mean,
                    "stderr": stderr,
                    "ci_low": interval.low,
                    "ci_high": interval.high,
                    "n": len(values),
                }
            )
    return pd.DataFrame(rows)


def compare(
    frames: RunFrames,
    a: str,
    b: str,
    *,
    metric: str = "full_marks",
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per k, on the items both students have scores for: each mean, the paired difference
    a - b with a bootstrap interval, and McNemar's test on full marks."""
    scores = counted_scores(frames)
    known = set(scores["student"])
    for name in (a, b):
        if name not in known:
            raise ValueError(f"no scored items for model {name!r} (models: {sorted(known)})")
    wide = scores.pivot_table(
        index=["k", "item_id"],
        columns="student",
        values=list(dict.fromkeys([metric, "full_marks"])),
    )
    rows = []
    for k, group in wide.groupby(level="k"):
        paired = group.dropna(subset=[(metric, a), (metric, b)])
        first, second = (paired[(metric, m)].to_numpy(dtype=float) for m in (a, b))
        full = (paired[("full_marks", a)] == 1, paired[("full_marks", b)] == 1)
        rows.append(
            comparison_row(k, (a, b), (first, second), full, resamples=resamples, seed=seed)
        )
    return pd.DataFrame(rows)


def comparison_row(
    k: object,
    labels: tuple[str, str],
    scores: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    full_marks: tuple[npt.ArrayLike, npt.ArrayLike],
    *,
    resamples: int,
    seed: int,
) -> dict[str, object]:
    """One k of a paired comparison of models a and b: their mean scores (keyed by their
    labels), the difference a - b with its bootstrap interval, and McNemar on full marks."""
    (a, b), (first, second) = labels, scores
    diff = paired_difference(first, second, resamples=resamples, seed=seed)
    test = mcnemar(*full_marks)
    return {
        "k": k,
        "n": diff.n,
        a: float(np.mean(first)) if diff.n else math.nan,
        b: float(np.mean(second)) if diff.n else math.nan,
        "difference": diff.difference,
        "ci_low": diff.interval.low,
        "ci_high": diff.interval.high,
        "a_only_full": test.a_only,
        "b_only_full": test.b_only,
        "mcnemar_p": test.p_value,
        "test": test.method,
    }


def skill_breakdown(frames: RunFrames) -> pd.DataFrame:
    """How often each skill's point is earned, per student and k (all scored generations)."""
    skills = frames.points[frames.points["skill"].notna()]
    table = skills.groupby(["student", "k", "skill"])["point"].agg(rate="mean", n="size")
    return table.reset_index()


def hardest_skills(frames: RunFrames, *, min_k: int = 2, top: int = 10) -> pd.DataFrame:
    """The skills most often missed when combined with others (k >= min_k), per student."""
    breakdown = skill_breakdown(frames)
    combined = breakdown[breakdown["k"] >= min_k].assign(earned=lambda t: t["rate"] * t["n"])
    pooled = combined.groupby(["student", "skill"])[["earned", "n"]].sum().reset_index()
    pooled["rate"] = pooled["earned"] / pooled["n"]
    ordered = pooled.sort_values(["student", "rate", "n"], ascending=[True, True, False])
    return (
        ordered.groupby("student")
        .head(top)[["student", "skill", "rate", "n"]]
        .reset_index(drop=True)
    )


def _ratings(frames: RunFrames, kind: str | None) -> np.ndarray:
    """Raters x units of the grader's own points (before the deterministic sentence rule and
    naming penalty): a unit is one criterion of one answer, a rater one of the R gradings."""
    gradings = frames.gradings[frames.gradings["status"] == GradingStatus.SCORED]
    cells: dict[tuple[str, str, int, str], dict[int, float]] = {}
    columns = ("student", "item_id", "gen", "grading", "grader_points")
    for student, item_id, gen, grading, points in zip(*(gradings[c] for c in columns), strict=True):
        for criterion, point in (points or {}).items():
            if kind is None or criterion.split(":")[0] == kind:
                cells.setdefault((student, item_id, gen, criterion), {})[grading] = float(point)
    raters = frames.config.gradings
    matrix = np.full((raters, len(cells)), np.nan)
    for column, ratings in enumerate(cells.values()):
        for rater, point in ratings.items():
            matrix[rater, column] = point
    return matrix


def grader_agreement(frames: RunFrames) -> pd.DataFrame:
    """Agreement between the R gradings, per kind of criterion and overall."""
    rows = []
    for kind in ("skill", "topic", "sense", "sentences", None):
        matrix = _ratings(frames, kind)
        pairable = int((np.sum(~np.isnan(matrix), axis=0) >= 2).sum()) if matrix.size else 0
        kappa = cohen_kappa(matrix[0], matrix[1]) if matrix.shape[0] >= 2 and pairable else math.nan
        rows.append(
            {
                "criterion": kind or "all",
                "units": pairable,
                "percent_agreement": percent_agreement(matrix) if pairable else math.nan,
                "krippendorff_alpha": krippendorff_alpha_nominal(matrix) if pairable else math.nan,
                "cohen_kappa_1_2": kappa,
            }
        )
    return pd.DataFrame(rows)


def length_and_score(frames: RunFrames) -> pd.DataFrame:
    """Spearman correlation of answer length (words) with skill fraction, per student."""
    keys = ["student", "item_id", "gen"]
    points = frames.points
    is_skill = points["skill"].notna()
    skills = points[is_skill].groupby(keys)["point"].mean()
    others = points[~is_skill].groupby(keys)["point"].sum()
    # skill fraction: the share of skill points when topic, sense and length are all earned
    per_generation = skills.where(others == 3, 0.0).rename("skill_fraction").reset_index()
    answers = frames.generations[[*keys, "answer"]]
    merged = per_generation.merge(answers, on=keys)
    rows = []
    for student, group in merged.groupby("student"):
        words = pd.Series([len(str(a or "").split()) for a in group["answer"]], dtype=float)
        result = length_score_correlation(words, group["skill_fraction"].to_numpy(dtype=float))
        rows.append(
            {
                "student": student,
                "spearman_rho": result.rho,
                "p_value": result.p_value,
                "n": result.n,
                "mean_words": words.mean(),
            }
        )
    return pd.DataFrame(rows)


def novelty(
    frames: RunFrames,
    *,
    n_skills: int,
    n_common: int,
    n_topics: int,
    assumptions: NoveltyAssumptions,
) -> pd.DataFrame:
    """Per k: how many items exist, the bound on the share of items a corpus could hold, and
    per student the lower bound on the share of its full-mark answers that must be novel."""
    scores = counted_scores(frames)
    rows = []
    for (student, k), group in scores.groupby(["student", "k"], sort=True):
        rate = float(group["full_marks"].mean())
        size = int(str(k))
        rows.append(
            {
                "student": student,
                "k": size,
                "full_marks": rate,
                "possible_items": possible_items(n_skills, n_topics, size),
                "possible_items_without_common": possible_items(
                    n_skills - n_common, n_topics, size
                ),
                "seen_fraction_bound": seen_fraction_bound(size, assumptions),
                "novel_share_at_least": novel_share_bound(rate, size, assumptions),
            }
        )
    return pd.DataFrame(rows)
