"""`skillmix import-official`: an official Skill-Mix run's folders into a run store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skillmix.cli.console import console, user_errors
from skillmix.cli.results import report_command


def import_official_command(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Official run folders (a test/ folder or k*_s*_v*_r* rounds)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="The new run directory.")],
) -> None:
    """Build a run store from the official repository's run folders (records.csv, graded/),
    aggregated the official way, for report, export and compare."""
    from skillmix.official.run_import import import_official_run

    with user_errors():
        summary = import_official_run(sources, out)
    console.print(
        f"{len(summary.students)} students, k={summary.ks}, {summary.items} items, "
        f"{summary.generations} generations, {summary.gradings} gradings "
        f"({summary.unscored} unscored, {summary.fallbacks} from official points) -> {out}"
    )
    for note in summary.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    report_command(out)
