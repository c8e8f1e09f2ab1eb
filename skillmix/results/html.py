"""`skillmix report RUN_DIR --html FILE`: a self-contained page (plots embedded as PNG), with
its items paged beside it when there are many."""

from __future__ import annotations

import base64
import io
import json
import math
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory
import matplotlib.pyplot as plt
import pandas as pd

from skillmix.outputs import write_text
from skillmix.results import analysis
from skillmix.results.build import RunData, RunResults, read_run, results_per_grader
from skillmix.results.cross_grader import cross_grader_agreement
from skillmix.results.frames import RunFrames, frames_of
from skillmix.results.html_items import items_html
from skillmix.results.metrics import METRICS
from skillmix.results.training import training_notes
from skillmix.run.store import RunStore

PAPER_CATALOG = {"skills": 101, "common": 17, "topics": 100}


def _figure_html(figure: Any, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, text_columns: tuple[str, ...] = ()) -> str:
    head = "".join(
        f'<th class="{"text" if c in text_columns else ""}">{escape(str(c))}</th>' for c in frame
    )
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, values, strict=True):
            css = "text" if column in text_columns else ""
            cells.append(f'<td class="{css}">{escape(_format(value))}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _format(value: object) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def _leaderboard(results: RunResults, spread: pd.DataFrame) -> str:
    rows = []
    intervals = {(r.student, r.k, r.metric): r for r in spread.itertuples()}
    for row in results.rows:
        ci = intervals.get((row.student, row.k, row.metric))
        interval = f"[{ci.ci_low:.2f}, {ci.ci_high:.2f}]" if ci is not None else "–"
        value = "–" if row.n == 0 else f"{row.value:.2f} ± {_format(row.stderr)}"
        rows.append(
            {
                "model": row.student,
                "k": row.k,
                "metric": row.metric,
                "value ± SE": value,
                "95% CI": interval,
                "n": row.n,
                "unscored": row.unscored,
                "failed": row.failed,
                "pending": row.pending,
            }
        )
    return (
        '<div id="leaderboard-table">' + _table(pd.DataFrame(rows), ("model", "metric")) + "</div>"
    )


def _curves(results: RunResults) -> str:
    figure, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.2), sharey=True)
    frame = pd.DataFrame([r.__dict__ for r in results.rows])
    for axis, metric in zip(axes, METRICS, strict=True):
        for student, group in frame[frame["metric"] == metric].groupby("student"):
            group = group.sort_values("k")
            axis.errorbar(
                group["k"],
                group["value"],
                yerr=group["stderr"].fillna(0),
                marker="o",
                capsize=3,
                label=str(student),
            )
        axis.set_title(metric)
        axis.set_xlabel("k (skills per item)")
        axis.set_ylim(-0.05, 1.05)
        axis.set_xticks(sorted(frame["k"].unique()))
    axes[0].set_ylabel("ratio")
    axes[-1].legend(fontsize="small")
    return _figure_html(figure, "ratio against k per model, with standard errors")


def _skills(frames: RunFrames) -> str:
    breakdown = analysis.skill_breakdown(frames)
    if breakdown.empty:
        return "<p>No scored skill points yet.</p>"
    parts = []
    for student, group in breakdown.groupby("student"):
        grid = group.pivot_table(index="skill", columns="k", values="rate")
        grid = grid.loc[grid.mean(axis=1).sort_values().index]
        height = max(2.5, 0.22 * len(grid))
        figure, axis = plt.subplots(figsize=(1.2 * len(grid.columns) + 3.5, height))
        image = axis.imshow(grid.to_numpy(), aspect="auto", cmap="RdYlGn", vmin=0, vmax=1)
        axis.set_yticks(range(len(grid)), [str(s) for s in grid.index], fontsize=7)
        axis.set_xticks(range(len(grid.columns)), [f"k={k}" for k in grid.columns])
        axis.set_title(f"{student}: share of skill points earned")
        figure.colorbar(image, ax=axis, fraction=0.05)
        parts.append(_figure_html(figure, f"per-skill heat map for {student}"))
    hardest = analysis.hardest_skills(frames)
    parts.append("<h3>Skills most often missed when combined</h3>")
    parts.append(_table(hardest, ("student", "skill")))
    return "\n".join(parts)


def _agreement(frames: RunFrames) -> str:
    if frames.config.gradings < 2:
        return "<p>One grading per answer (R = 1): nothing to compare. Set gradings: 3.</p>"
    table = _table(analysis.grader_agreement(frames), ("criterion",))
    lengths = _table(analysis.length_and_score(frames), ("student",))
    note = (
        "<p class='note'>Agreement between the R gradings of the same answer on the grader's "
        "own points (before the sentence rule and naming penalty). Below: Spearman correlation "
        "of answer length in words with skill fraction.</p>"
    )
    return note + table + lengths


def _novelty(frames: RunFrames, sizes: dict[str, int], assumed_sizes: bool) -> str:
    novelty = frames.config.novelty
    table = analysis.novelty(
        frames,
        n_skills=sizes["skills"],
        n_common=sizes["common"],
        n_topics=sizes["topics"],
        assumptions=novelty,
    )
    origin = (
        "the paper's catalog sizes (this run did not record its own)"
        if assumed_sizes
        else ("this run's catalog")
    )
    note = (
        f"<p class='note'>Possible items C(N,k)·T from {origin}: N = {sizes['skills']} skills "
        f"({sizes['common']} common), T = {sizes['topics']} topics. Assumptions (config "
        f"<code>novelty:</code>): a skill shows in at most p_s = {novelty.skill_frequency:g} of "
        f"training text pieces, a topic in p_t = {novelty.topic_frequency:g}, the corpus holds "
        f"L = {novelty.corpus_pieces:g} pieces. A given item then appears in about "
        "p_s<sup>k</sup>·p_t·L pieces, so at most that share of items can have been seen; a "
        "full-mark rate above it means at least the last column's share of full-mark answers "
        "must be new text.</p>"
    )
    return note + _table(table, ("student",))


def _cost(results: RunResults) -> str:
    rows = [
        {"model": student, "k": k, "student USD": s, "grader USD": g}
        for (student, k), (s, g) in sorted(results.costs.items())
    ]
    if not rows:
        return "<p>No calls recorded.</p>"
    return _table(pd.DataFrame(rows).fillna(float("nan")), ("model",))


def _other_graders(data: RunData, every: list[RunResults]) -> str:
    """The leaderboard by each grader `regrade` added, and their agreement with the run's."""
    if not data.graders:
        return ""
    parts = [f"<h3>Graded by {escape(r.config.grader.label)}</h3>" for r in every[1:]]
    boards = [_leaderboard(r, analysis.uncertainty(frames_of(r))) for r in every[1:]]
    agreement = _table(cross_grader_agreement(data), ("grader", "criterion"))
    note = (
        f"<h3>Agreement with {escape(data.config.grader.label)}</h3><p class='note'>Each grader's "
        "majority verdict per point, on its own points; false_pass: passed what the run's "
        "grader failed.</p>"
    )
    return "".join(p + b for p, b in zip(parts, boards, strict=True)) + note + agreement


def write_html_report(run_dir: Path, out: Path, *, per_page: int = 200) -> Path:
    """The report page at `out`; a run of more than `per_page` generations also gets its
    item pages in OUT_items/ (see html_items)."""
    store = RunStore.open_for_reading(run_dir)
    try:
        data = read_run(store)
        every = results_per_grader(data)
        results = every[0]
        frames = frames_of(results)
        stored_sizes = store.get_meta("catalog_sizes")
        sizes = json.loads(stored_sizes) if stored_sizes else PAPER_CATALOG
        config = frames.config
        meta = (
            f"run {results.run_id} · grader {config.grader.label} · seed {config.seed} · "
            f"G={config.generations}, R={config.gradings} · catalog {results.catalog_hash} · "
            f"prompts {results.prompt_hash}"
        )
        if split := config.catalog.split:
            meta += f" · catalog split: {split.describe()}"
        for _, note in training_notes(data):
            meta += f" · {note}"
        page = Template(
            resources.files("skillmix.results").joinpath("templates/report.html").read_text()
        )
        html = page.substitute(
            title=escape(config.name),
            meta=escape(meta),
            leaderboard=_leaderboard(results, analysis.uncertainty(frames)),
            curves=_curves(results),
            skills=_skills(frames),
            agreement=_agreement(frames) + _other_graders(data, every),
            novelty=_novelty(frames, sizes, stored_sizes is None),
            cost=_cost(results),
            items=items_html(store, data, results, out, per_page),
        )
    finally:
        store.close()
    write_text(out, html)
    return out
