"""The terminal tables at 80 columns: no line too wide, no header broken, model labels kept."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

import skillmix
from skillmix.results.analysis import compare
from skillmix.results.build import RunResults
from skillmix.results.terminal import fit_label, print_comparison, print_estimates, print_report
from skillmix.run.estimate import estimate_run
from skillmix.run.plan import build_plan
from tests.helpers.configs import model_entry, run_config
from tests.helpers.runs import evaluate_two_students

WIDTH = 80
A, B = "llamacpp/smollm2", "openai/gpt-4o-mini-2024-07-18"
REPORT_HEADERS = ["model", "k", "full", "all", "frac", "cost"]
FULL_REPORT_HEADERS = ["model", "k", "full_marks", "all_skills", "skill_fraction", "cost"]
COMPARE_HEADERS = ["k", "n", "A", "B", "A-B", "lo", "hi", "A+", "B+", "p", "test"]
ESTIMATE_HEADERS = ["model", "role", "calls", "input", "output", "USD"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("terminal") / "run"
    evaluate_two_students(out, "terminal", items_per_k=3, students=[A, B])
    yield out


@pytest.fixture(scope="module")
def results(run_dir: Path) -> RunResults:
    return skillmix.load_results(run_dir)


def printed(show: Callable[[Console], None], width: int = WIDTH) -> list[str]:
    """What `show` prints on a console like the CLI's (soft wrap on), `width` columns wide."""
    console = Console(width=width, record=True, file=io.StringIO(), soft_wrap=True)
    show(console)
    return console.export_text().splitlines()


def header_rows(lines: list[str]) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("┃")[1:-1]] for line in lines if "┃" in line]


def first_column(lines: list[str]) -> list[str]:
    return [line.split("│")[1].strip() for line in lines if line.startswith("│")]


def assert_laid_out(lines: list[str], headers: list[str], width: int = WIDTH) -> None:
    """Within the width, and the header row one line holding every header whole."""
    assert max(cell_len(line) for line in lines) <= width, "\n".join(lines)
    assert header_rows(lines) == [headers], "\n".join(lines)


def assert_labels_kept(lines: list[str], labels: list[str]) -> None:
    """Each label that fits the first column whole on a line; a longer one broken only at '/'
    where its parts fit (a part longer than the column may be broken further)."""
    column = first_column(lines)
    room = len(next(line for line in lines if "┃" in line).split("┃")[1]) - 2
    for label in labels:
        parts = [label] if len(label) <= room else re.findall(r"[^/]*/|[^/]+", label)
        for part in (p for p in parts if len(p) <= room):
            assert any(part in cell for cell in column), (part, "\n".join(lines))


def test_fit_label_breaks_at_slashes_then_at_punctuation() -> None:
    assert fit_label(A, 24) == A
    assert fit_label(B, 24) == "openai/\ngpt-4o-mini-2024-07-18"
    assert fit_label("hf/org/model-name", 10) == "hf/org/\nmodel-name"
    assert fit_label("anthropic/claude-3-5-sonnet-20241022", 20) == (
        "anthropic/\nclaude-3-5-sonnet-\n20241022"
    )
    assert fit_label("a/" + "x" * 30, 10) == "a/\nxxxxxxxxx…"


def test_report_at_80_columns(results: RunResults) -> None:
    lines = printed(lambda console: print_report(results, console))
    assert_laid_out(lines, REPORT_HEADERS)
    assert A in first_column(lines) and "gpt-4o-mini-2024-07-18" in first_column(lines)
    assert_labels_kept(lines, [A, B])
    text = "\n".join(lines)
    assert "full, all, frac: full_marks, all_skills, skill_fraction" in text  # the legend
    for row in results.rows:
        assert f"{row.value:.2f}±{row.stderr:.2f}" in text
    for own, graded in results.costs.values():
        assert own is not None and graded is not None
        assert f"${own + graded:.4f}" in text and f"(${own:.4f})" in text


def test_report_counts_at_80_columns(results: RunResults) -> None:
    first, *rest = results.rows
    troubled = dataclasses.replace(results)
    # rows is a cached_property: the copy's own value shadows it
    object.__setattr__(
        troubled, "rows", [dataclasses.replace(first, unscored=12, failed=3, pending=7), *rest]
    )
    lines = printed(lambda c: print_report(troubled, c))
    assert_laid_out(lines, REPORT_HEADERS)
    text = "\n".join(lines)
    assert "unscored 12" in text and "failed 3" in text and "pending 7" in text


def test_report_uses_full_headers_where_wide(results: RunResults) -> None:
    lines = printed(lambda console: print_report(results, console), width=160)
    assert_laid_out(lines, FULL_REPORT_HEADERS, 160)
    assert A in first_column(lines) and B in first_column(lines)
    assert not any(line.startswith("full, all, frac") for line in lines)


def test_compare_at_80_columns(run_dir: Path) -> None:
    frame = compare(skillmix.load_run(run_dir), A, B)
    lines = printed(lambda console: print_comparison(frame, A, B, "full_marks", console))
    assert_laid_out(lines, COMPARE_HEADERS)
    assert f"A = {A}, B = {B}: mean full_marks per k" in lines
    assert sum(line.startswith("│") for line in lines) == len(frame) == 3
    assert all(line.split("│")[-2].strip() in {"exact", "chi2"} for line in lines if "│" in line)


def test_compare_uses_the_frame_columns_where_wide(run_dir: Path) -> None:
    frame = compare(skillmix.load_run(run_dir), A, B)
    lines = printed(lambda console: print_comparison(frame, A, B, "full_marks", console), 160)
    assert_laid_out(lines, [str(column) for column in frame.columns], 160)
    assert not any(line.startswith("A = ") for line in lines)


def test_dry_run_estimate_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    labels = [A, B, "anthropic/claude-3-5-sonnet-20241022", "openai/gpt-4o-2024-08-06"]
    config = run_config(
        tmp_path / "run",
        students=[model_entry(label) for label in labels[:3]],
        grader=model_entry(labels[3]),
        k=[1, 2, 3],
        items_per_k=40,
    )
    rows = estimate_run(build_plan(config))
    lines = printed(lambda console: print_estimates(rows, console))
    assert_laid_out(lines, ESTIMATE_HEADERS)
    assert_labels_kept(lines, labels)
    assert A in first_column(lines) and "anthropic/" in first_column(lines)
    shown = [[cell.strip() for cell in line.split("│")] for line in lines if "│" in line]
    assert [(cells[2], cells[3]) for cells in shown if cells[2]] == [
        (row.role, f"{row.calls:,}") for row in rows
    ]
