"""The official ConceptMix performance table (docs/static/data/performance_table.csv of the
official repository): full-mark rates per model for k = 1..7, as "0.52 ±0.06" cells, read so
that a run's models can be shown beside the published ones.

What the official ± means is not documented (a Wilson 95% interval at n = 300 reproduces
about half of its cells); ours is the Wilson 95% half-width, so compare the rates, not the ±.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from skillmix.errors import SkillmixError
from skillmix.results.conceptmix.leaderboard import k_header
from skillmix.results.conceptmix.metrics import ModelMetrics

Cell = tuple[float, float]  # (full-mark rate, its ±)
OfficialTable = dict[str, dict[int, Cell]]  # model -> k -> cell

NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
CELL = re.compile(rf"\s*{NUMBER}\s*±\s*{NUMBER}\s*")
K_COLUMN = re.compile(r"\s*k\s*=\s*(\d+)\s*")
RUN, OFFICIAL = "this run", "official"
LEGEND = ("full-mark rate per k; this run: ± the Wilson 95% half-width; official: ± undocumented",)


def _rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SkillmixError("no such file (the official performance table)", file=path) from None
    except UnicodeDecodeError:
        raise SkillmixError("not UTF-8 text", file=path) from None
    except OSError as exc:
        raise SkillmixError(f"cannot read ({exc.strerror or exc})", file=path) from None
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise SkillmixError(f"not a CSV table ({exc})", file=path) from None


def _header(header: list[str], path: Path) -> list[int]:
    """The k of each column after `Model`."""
    if not header or header[0].strip() != "Model":
        raise SkillmixError("the header has no Model column first", file=path, field="row 1")
    ks: list[int] = []
    for column, name in enumerate(header[1:], start=2):
        match = K_COLUMN.fullmatch(name)
        where = f"row 1, column {column}"
        if match is None:
            raise SkillmixError(f"{name!r} is not a k=<number> column", file=path, field=where)
        if int(match[1]) in ks:
            raise SkillmixError(f"k={match[1]} appears twice", file=path, field=where)
        ks.append(int(match[1]))
    return ks


def parse_cell(text: str) -> Cell | None:
    """ "0.52 ±0.06" -> (0.52, 0.06); an empty cell -> None; anything else -> ValueError."""
    if not text.strip():
        return None
    match = CELL.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not '<number> ±<number>'")
    return float(match[1]), float(match[2])


def _model_row(row: list[str], ks: list[int], path: Path, number: int) -> dict[int, Cell]:
    if len(row) != len(ks) + 1:
        message = f"{len(row)} cells for {len(ks) + 1} columns"
        raise SkillmixError(message, file=path, field=f"row {number}")
    cells: dict[int, Cell] = {}
    for k, text in zip(ks, row[1:], strict=True):
        try:
            cell = parse_cell(text)
        except ValueError as exc:
            where = f"row {number} ({row[0].strip()}), column k={k}"
            raise SkillmixError(str(exc), file=path, field=where) from None
        if cell is not None:
            cells[k] = cell
    return cells


def read_official_table(path: Path) -> OfficialTable:
    """model -> k -> (rate, ±), in the file's order; empty cells left out. Bad input is one
    line naming the file and the row and column."""
    rows = [row for row in _rows(path) if any(cell.strip() for cell in row)]
    if not rows:
        raise SkillmixError("empty: no header row (Model,k=1,...)", file=path)
    ks = _header(rows[0], path)
    table: OfficialTable = {}
    for number, row in enumerate(rows[1:], start=2):
        model = row[0].strip()
        if not model or model in table:
            problem = "no model name" if not model else f"model {model!r} appears twice"
            raise SkillmixError(problem, file=path, field=f"row {number}, column 1")
        table[model] = _model_row(row, ks, path, number)
    return table


@dataclass(frozen=True)
class TableRow:
    """A model's full-mark cells per k, from this run or from the official table."""

    model: str
    source: str  # RUN or OFFICIAL
    cells: dict[int, Cell]  # k -> (rate, ±); a k left out: no figure


def run_cells(model: ModelMetrics) -> dict[int, Cell]:
    return {row.k: (row.full_mark, row.half_width) for row in model.by_k if row.images}


def compare_with_official(
    run_metrics: Sequence[ModelMetrics], official: OfficialTable
) -> list[TableRow]:
    """The run's models, then the official ones (in the table's order), each with its cells."""
    ours = [TableRow(model.model, RUN, run_cells(model)) for model in run_metrics]
    theirs = [TableRow(model, OFFICIAL, dict(cells)) for model, cells in official.items()]
    return ours + theirs


def comparison_ks(rows: Sequence[TableRow]) -> list[int]:
    return sorted({k for row in rows for k in row.cells})


def format_cell(cell: Cell | None) -> str:
    return "" if cell is None else f"{cell[0]:.2f} ±{cell[1]:.2f}"


def render_official_comparison(rows: Sequence[TableRow]) -> Group:
    """The run's models above the official ones, one column per k."""
    ks = comparison_ks(rows)
    table = Table(title="ConceptMix full-mark rate: this run beside the official table")
    table.add_column("model", overflow="fold")
    table.add_column("source")
    for k in ks:
        table.add_column(k_header(k), justify="right")
    for index, row in enumerate(rows):
        if index and row.source != rows[index - 1].source:
            table.add_section()
        cells = [format_cell(row.cells.get(k)) for k in ks]
        table.add_row(Text(row.model), row.source, *cells)
    return Group(table, *(Text(line, style="dim") for line in LEGEND))


def print_official_comparison(rows: Sequence[TableRow], console: Console | None = None) -> None:
    console = console or Console()
    console.print(render_official_comparison(rows), soft_wrap=False)
