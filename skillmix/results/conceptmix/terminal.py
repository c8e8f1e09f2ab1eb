"""ConceptMix results in the terminal: per model, its k table (images, full-mark rate ± the
Wilson 95% half-width, concept fractions, the images refused, failed, ungraded, pending),
then its per-category accuracy per k. Like the Skill-Mix table, the k table has a full layout
and, where that does not fit the console, a short one explained by a legend."""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from skillmix.records import WritingRecord, WritingStatus
from skillmix.results.conceptmix.leaderboard import K_COLUMNS, k_header, k_row_cells
from skillmix.results.conceptmix.metrics import ModelMetrics, Rate, ordered_categories
from skillmix.results.conceptmix.results import ConceptResults
from skillmix.results.terminal import _fits, _legend, fit_label

HEADERS = K_COLUMNS
SHORT_HEADERS = ("k", "n", "full", "µ", "M", "ref", "fail", "ungr", "pend")
LEGEND = (
    "full-mark: share of images with every question Yes, ± the Wilson 95% half-width",
    "micro, macro: concept fraction (Yes over questions; mean per image of its Yes share)",
    "refused: counted as 0; failed, ungraded, pending: images left out of the rates",
)
SHORT_LEGEND = (
    "n: images in the rates; full: full-mark rate ± Wilson 95% half-width",
    "µ, M: concept fraction micro, macro; ref: refused (counted as 0)",
    "fail, ungr, pend: images failed, ungraded, pending (left out of the rates)",
)


def k_table(model: ModelMetrics, headers: tuple[str, ...] = HEADERS, width: int = 80) -> Table:
    table = Table(title=Text(fit_label(model.model, width - 4)))
    for header in headers:
        table.add_column(header, justify="right")
    for row in model.by_k:
        table.add_row(*k_row_cells(row))
    return table


def _rate(rate: Rate | None) -> str:
    return "-" if rate is None or rate.total == 0 else f"{rate.value:.2f}"


def category_table(model: ModelMetrics) -> Table:
    """Per category: the Yes rate of its questions per k, over every k, and how many."""
    table = Table(title=Text("per-category accuracy (Yes rate of questions)"))
    table.add_column("category")
    for row in model.by_k:
        table.add_column(k_header(row.k), justify="right")
    table.add_column("all", justify="right")
    table.add_column("n", justify="right")
    for name in ordered_categories(model.categories):
        cells = [_rate(row.categories.get(name)) for row in model.by_k]
        pooled = model.categories[name]
        table.add_row(name, *cells, _rate(pooled), str(pooled.total))
    return table


def _notes(results: ConceptResults) -> list[Text]:
    notes = []
    if results.writings:
        notes.append(writing_note(results.writings))
    empty = results.outcomes.empty_items
    if empty:
        ks = ", ".join(str(k) for k in sorted({item.k for item in empty}))
        notes.append(f"{len(empty)} items with no question left out (k = {ks})")
    return _legend(notes)


def writing_note(writings: list[WritingRecord]) -> str:
    """How the written items came out: written, redrawn, rejected, failed, and the cost."""
    count = Counter(record.status for record in writings)
    redrawn = sum(r.attempts > 1 for r in writings if r.status == WritingStatus.OK)
    costs = [record.cost_usd for record in writings]
    cost = "unknown" if None in costs else f"${sum(c for c in costs if c is not None):.4f}"
    note = (
        f"items written: {count[WritingStatus.OK]} of {len(writings)} ({redrawn} after a "
        f"redraw), {count[WritingStatus.REJECTED]} turned down at every draw, "
        f"{count[WritingStatus.FAILED]} failed; writer cost {cost}"
    )
    failed = [r for r in writings if r.status != WritingStatus.OK]
    return note + (f"; first left out: {failed[0].item_id}: {failed[0].reason}" if failed else "")


def render_conceptmix(results: ConceptResults, console: Console) -> Group:
    """Every model's k table and per-category table, in the layout that fits the console."""
    title = f"ConceptMix (grader {results.grader}, run {results.run_id or '?'})"
    parts: list[RenderableType] = [Text(title, style="bold")]
    short = not all(_fits(k_table(m, HEADERS, console.width), console) for m in results.metrics)
    for model in results.metrics:
        parts.append(k_table(model, SHORT_HEADERS if short else HEADERS, console.width))
        if model.categories:
            parts.append(category_table(model))
    parts.extend(_legend(SHORT_LEGEND if short else LEGEND))
    parts.extend(_notes(results))
    return Group(*parts)


def print_conceptmix(results: ConceptResults, console: Console | None = None) -> None:
    console = console or Console()
    console.print(render_conceptmix(results, console), soft_wrap=False)
