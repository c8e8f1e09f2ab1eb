"""Results in the terminal: the model x k table of a run, the paired comparison of two models
and the dry run's estimate of calls. Each table has a full layout, used where it fits the
console, and a short one for narrow terminals: abbreviated headers, explained by a legend
printed under the table, and model labels broken at '/' rather than mid-name."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from rich.cells import cell_len
from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from skillmix.results.build import Cost, RunResults
from skillmix.results.metrics import METRICS, MetricRow

if TYPE_CHECKING:
    import pandas as pd


class EstimateRow(Protocol):
    """A row of skillmix.run.estimate.estimate_run (not imported: results come before run)."""

    @property
    def label(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def calls(self) -> int: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cost_usd(self) -> float | None: ...


Fit = Callable[[str], str]  # a model label -> the label as shown (whole, or in lines)

MIN_LABEL_WIDTH = 8
_UNBOUNDED = 10_000
_SLASH_PARTS = re.compile(r"[^/]*/|[^/]+")
_WORD_PARTS = re.compile(r"[^-_.:]*[-_.:]|[^-_.:]+")

SHORT_METRICS = {"full_marks": "full", "all_skills": "all", "skill_fraction": "frac"}
REPORT_LEGEND = (
    "full, all, frac: full_marks, all_skills, skill_fraction (mean±stderr, n items)",
    "cost: USD of student and grader calls (the student's share in brackets)",
)
SHORT_COMPARISON = {
    "difference": "A-B",
    "ci_low": "lo",
    "ci_high": "hi",
    "a_only_full": "A+",
    "b_only_full": "B+",
    "mcnemar_p": "p",
}
COMPARISON_LEGEND = (
    "A-B: difference of the means; lo, hi: its 95% paired bootstrap interval",
    "A+, B+: items with full marks from A only, from B only",
    "p: McNemar's test on full marks (test: exact binomial or chi2)",
)
ESTIMATE_COLUMNS = ("model", "role", "calls", "input tokens", "output tokens", "cost (USD)")
SHORT_ESTIMATE_COLUMNS = ("model", "role", "calls", "input", "output", "USD")
ESTIMATE_LEGEND = ("input, output: tokens; USD: estimated cost in dollars",)


def fit_label(label: str, width: int) -> str:
    """The label in lines of at most `width` cells: broken after a '/', else after a '-', '_',
    '.' or ':', and shortened with an ellipsis only where one piece is still too long."""
    width = max(width, MIN_LABEL_WIDTH)
    if cell_len(label) <= width:
        return label
    lines = []
    for line in _pack(_SLASH_PARTS.findall(label), width):
        if cell_len(line) <= width:
            lines.append(line)
        else:
            lines.extend(_clip(piece, width) for piece in _pack(_WORD_PARTS.findall(line), width))
    return "\n".join(lines)


def _pack(pieces: Iterable[str], width: int) -> list[str]:
    lines = [""]
    for piece in pieces:
        if lines[-1] and cell_len(lines[-1] + piece) > width:
            lines.append(piece)
        else:
            lines[-1] += piece
    return lines


def _clip(text: str, width: int) -> str:
    return text if cell_len(text) <= width else f"{text[: width - 1]}…"


def _natural_width(table: Table, console: Console) -> int:
    """The width the table takes with no cell wrapped."""
    return Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum


def _fits(table: Table, console: Console) -> bool:
    return _natural_width(table, console) <= console.width


def _fitted(build: Callable[[Fit], Table], column: Sequence[str], console: Console) -> Table:
    """The table with its model labels whole where it fits, else with the labels broken to the
    room the other columns leave. `column`: the label column's header and labels."""
    table = build(str)
    spare = console.width - _natural_width(table, console)
    if spare >= 0:
        return table
    room = max(cell_len(text) for text in column) + spare
    return build(lambda label: fit_label(label, room))


def _legend(lines: Iterable[str]) -> list[Text]:
    return [Text(line, style="dim") for line in lines]


def _unknown_price(short: bool) -> str:
    return "unknown\nprice" if short else "unknown price"


# The model x k table of `skillmix report` and `skillmix eval`.


def _value(row: MetricRow, short: bool) -> str:
    if row.n == 0:
        return "-"
    if math.isnan(row.stderr):
        return f"{row.value:.2f}"
    return f"{row.value:.2f}{'±' if short else ' ± '}{row.stderr:.2f}"


def _cell(row: MetricRow, short: bool) -> str:
    notes = [f"n={row.n}"] + [
        f"{label} {count}"
        for label, count in (
            ("unscored", row.unscored),
            ("failed", row.failed),
            ("pending", row.pending),
        )
        if count
    ]
    separator = "\n" if short else ", "  # short: one count a line, in a narrow column
    return f"{_value(row, short)}\n[dim]{separator.join(notes)}[/dim]"


def _money(cost: Cost, short: bool) -> str:
    student, grader = cost
    if student is None or grader is None:
        return _unknown_price(short)
    share = f"(${student:.4f})" if short else f"student ${student:.4f}"
    return f"${student + grader:.4f}\n[dim]{share}[/dim]"


def _report_title(results: RunResults) -> str:
    config = results.config
    split = config.catalog.split
    scope = f", {split.part.value} split" if split else ""
    return f"Skill-Mix: {config.name}  (grader {config.grader.label}{scope}, run {results.run_id})"


def _report_table(results: RunResults, short: bool, fit: Fit) -> Table:
    table = Table(title=_report_title(results))
    table.add_column("model", no_wrap=True, overflow="ellipsis")
    table.add_column("k", justify="right")
    for metric in METRICS:
        table.add_column(SHORT_METRICS[metric] if short else metric, justify="center")
    table.add_column("cost", justify="right")
    by_key = {(r.student, r.k, r.metric): r for r in results.rows}
    ks = sorted({r.k for r in results.rows})
    for student in dict.fromkeys(r.student for r in results.rows):
        for k in ks:
            cells = [_cell(by_key[(student, k, m)], short) for m in METRICS]
            cost = _money(results.costs.get((student, k), (0.0, 0.0)), short)
            label = Text(fit(student) if k == ks[0] else "")
            table.add_row(label, str(k), *cells, cost)
        table.add_section()
    return table


def render_table(results: RunResults, console: Console) -> Group:
    """The model x k table (mean ± standard error, n and the unscored, failed and pending
    counts, cost with the student's share), in the layout that fits the console."""
    full = _report_table(results, False, str)
    if _fits(full, console):
        return Group(full)
    students = [r.student for r in results.rows]
    short = _fitted(lambda fit: _report_table(results, True, fit), ["model", *students], console)
    return Group(short, *_legend(REPORT_LEGEND))


def print_report(results: RunResults, console: Console | None = None) -> None:
    console = console or Console()
    console.print(render_table(results, console), soft_wrap=False)


# The paired comparison of `skillmix compare` (a frame of skillmix.results.analysis.compare).


def _comparison_cell(value: object, column: str, short: bool) -> str:
    if not isinstance(value, float):
        return str(value)
    if short and column != "mcnemar_p":
        return f"{value:.2f}"
    return f"{value:.3g}"


def _comparison_table(frame: pd.DataFrame, title: str, headers: list[str], short: bool) -> Table:
    table = Table(title=title)
    for header in headers:
        table.add_column(Text(header), justify="right")
    columns = [str(column) for column in frame.columns]
    for values in frame.itertuples(index=False):
        table.add_row(
            *(_comparison_cell(v, c, short) for v, c in zip(values, columns, strict=True))
        )
    return table


def render_comparison(frame: pd.DataFrame, a: str, b: str, metric: str, console: Console) -> Group:
    """The per-k comparison of models a and b: headed by the frame's column names where they
    fit the console, else with the models as A and B, else with short headers too."""
    title = f"{a} vs {b} on {metric} (paired over shared items)"
    names = [str(column) for column in frame.columns]
    named = _comparison_table(frame, title, names, False)
    if _fits(named, console):
        return Group(named)
    models = {a: "A", b: "B"}
    lettered = [models.get(name, name) for name in names]
    legend = [f"A = {a}, B = {b}: mean {metric} per k"]
    table = _comparison_table(frame, title, lettered, False)
    if _fits(table, console):
        return Group(table, *_legend(legend))
    short = [SHORT_COMPARISON.get(name, name) for name in lettered]
    table = _comparison_table(frame, title, short, True)
    return Group(table, *_legend([*legend, *COMPARISON_LEGEND]))


def print_comparison(frame: pd.DataFrame, a: str, b: str, metric: str, console: Console) -> None:
    console.print(render_comparison(frame, a, b, metric, console), soft_wrap=False)


# The calls a dry run would make (skillmix.run.estimate.estimate_run).


def _estimate_table(rows: Sequence[EstimateRow], headers: Sequence[str], fit: Fit) -> Table:
    short = headers == SHORT_ESTIMATE_COLUMNS
    table = Table(title="calls this run would make (outputs counted at max_tokens: an upper bound)")
    table.add_column(headers[0], no_wrap=True, overflow="ellipsis")
    table.add_column(headers[1])
    for header in headers[2:]:
        table.add_column(header, justify="right")
    for row in rows:
        cost = _unknown_price(short) if row.cost_usd is None else f"{row.cost_usd:.4f}"
        table.add_row(
            Text(fit(row.label)),
            row.role,
            f"{row.calls:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            cost,
        )
    return table


def render_estimates(rows: Sequence[EstimateRow], console: Console) -> Group:
    """Calls, tokens and cost per model and role, in the layout that fits the console."""
    full = _estimate_table(rows, ESTIMATE_COLUMNS, str)
    if _fits(full, console):
        return Group(full)
    labels = ["model", *(row.label for row in rows)]
    short = _fitted(lambda fit: _estimate_table(rows, SHORT_ESTIMATE_COLUMNS, fit), labels, console)
    return Group(short, *_legend(ESTIMATE_LEGEND))


def print_estimates(rows: Sequence[EstimateRow], console: Console) -> None:
    console.print(render_estimates(rows, console), soft_wrap=False)


# Agreement across graders (a frame of skillmix.results.cross_grader.cross_grader_agreement).

AGREEMENT_COLUMNS = {
    "grader": "grader",
    "criterion": "criterion",
    "units": "n",
    "percent_agreement": "agree",
    "cohen_kappa": "kappa",
    "krippendorff_alpha": "alpha",
    "false_pass": "f.pass",
    "false_fail": "f.fail",
}
AGREEMENT_LEGEND = [
    "agree: share of points judged alike; kappa: Cohen's; alpha: Krippendorff's",
    "f.pass / f.fail: passed what the reference failed / failed what it passed",
]


def print_grader_agreement(frame: pd.DataFrame, reference: str, console: Console) -> None:
    """Each grader against the reference, per kind of criterion: agreement, Cohen's kappa,
    Krippendorff's alpha, and the points it passed or failed against the reference."""
    table = Table(title=f"Agreement with {reference} (its verdicts taken as right)")
    for header in AGREEMENT_COLUMNS.values():
        text = header in ("grader", "criterion")
        table.add_column(header, justify="left" if text else "right", overflow="fold")
    shown = frame[list(AGREEMENT_COLUMNS)]
    for values in shown.itertuples(index=False):
        table.add_row(*(_comparison_cell(v, "", True) for v in values))
    console.print(Group(table, *_legend(AGREEMENT_LEGEND)), soft_wrap=False)


def print_length_bias(frame: pd.DataFrame, console: Console) -> None:
    """Per grader and student: how answer length goes with the skill fraction it gets."""
    table = Table(title="Answer length vs skill fraction (Spearman), per grader")
    for header in ("grader", "student", "rho", "p", "n", "words"):
        text = header in ("grader", "student")
        table.add_column(header, justify="left" if text else "right", overflow="fold")
    columns = ["grader", "student", "spearman_rho", "p_value", "n", "mean_words"]
    for values in frame[columns].itertuples(index=False):
        table.add_row(*(_comparison_cell(v, "", True) for v in values))
    console.print(table, soft_wrap=False)


def print_calibration(
    grader: str, table: pd.DataFrame, full: dict[str, float | int], console: Console
) -> None:
    """A grader on the labelled set: per kind of criterion, then full marks."""
    title = f"{grader} on the calibration set (labels taken as right)"
    shown = Table(title=title)
    for header in ("criterion", "n", "accuracy", "false pass", "of", "false fail", "of"):
        shown.add_column(header, justify="left" if header == "criterion" else "right")
    columns = ["criterion", "n", "accuracy", "false_pass_rate", "labelled_0"]
    for values in table[[*columns, "false_fail_rate", "labelled_1"]].itertuples(index=False):
        shown.add_row(*(_comparison_cell(v, "", True) for v in values))
    console.print(shown, soft_wrap=False)
    console.print(
        f"full marks: agrees with the labels on {full['agreement']:.1%} of {full['answers']} "
        f"answers; {full['false_full_marks']} full marks the labels deny, "
        f"{full['missed_full_marks']} missed",
        markup=False,
        highlight=False,
    )
