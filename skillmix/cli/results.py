"""`skillmix report`, `compare` and `export`: a run's results in the terminal and in files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from skillmix.cli.console import console, user_errors, warn
from skillmix.errors import SkillmixError
from skillmix.protocol.grading import JuryRule

if TYPE_CHECKING:
    import pandas as pd


def conceptmix_report(run_dir: Path, official_table: Path | None = None) -> bool:
    """Print a ConceptMix run's report (beside the official table when one is given) and
    write its files; False for a Skill-Mix run."""
    from skillmix.results.conceptmix.load import is_conceptmix_run, load_conceptmix, write_reports
    from skillmix.results.conceptmix.official_table import (
        compare_with_official,
        print_official_comparison,
        read_official_table,
    )
    from skillmix.results.conceptmix.terminal import print_conceptmix

    if not is_conceptmix_run(run_dir):
        return False
    official = None if official_table is None else read_official_table(official_table)
    results = load_conceptmix(run_dir)
    print_conceptmix(results, console)
    if official is not None:
        print_official_comparison(compare_with_official(results.metrics, official), console)
    try:
        written = write_reports(results, run_dir)
    except OSError as exc:
        warn(f"the report files were not written ({exc})")
    else:
        console.print(f"report: {written.html}", markup=False, highlight=False)
    return True


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")
    ] = None,
    per_page: Annotated[
        int,
        typer.Option(
            "--per-page",
            min=1,
            help="Generations per page of the HTML report's items (more: pages in HTML_items/).",
        ),
    ] = 200,
    jury: Annotated[
        JuryRule | None,
        typer.Option(help="Also score the jury of the run's graders (default: the config's)."),
    ] = None,
    official_table: Annotated[
        Path | None,
        typer.Option(
            "--official-table",
            help="ConceptMix: the official performance_table.csv, shown beside this run's.",
        ),
    ] = None,
) -> None:
    """Print the model x k table (mean ± standard error, with unscored and failed counts).

    RUN_DIR/leaderboard.csv is a copy of the table: where it cannot be written (a read-only
    run directory, a full disk) the command says so in one warning line and still succeeds."""
    from skillmix.config import stored_graders
    from skillmix.outputs import check_output_file
    from skillmix.results.build import build_results, read_run, results_per_grader
    from skillmix.results.cross_grader import cross_grader_agreement
    from skillmix.results.grader_checks import length_bias, self_preference
    from skillmix.results.jury import with_jury
    from skillmix.results.leaderboard import write_leaderboard
    from skillmix.results.terminal import print_grader_agreement, print_length_bias, print_report
    from skillmix.results.training import training_notes
    from skillmix.run.store import RunStore

    with user_errors():
        if html is not None:
            check_output_file(html, "--html")
        if conceptmix_report(run_dir, official_table):
            return
        if official_table is not None:
            raise SkillmixError(
                "is for ConceptMix runs; this is a Skill-Mix run", field="--official-table"
            )
        store = RunStore.open_for_reading(run_dir)
        try:
            # answers only for the length check across graders (a regraded run)
            regraded = bool(stored_graders(store.get_meta("graders"), store.path))
            data = read_run(store, texts=regraded)
        finally:
            store.close()
        by_grader = results_per_grader(data)
        rule = jury or data.config.jury
        juries = [build_results(with_jury(data, rule))] if rule and data.graders else []
        if jury is not None and not data.graders:
            warn("--jury needs two graders or more: this run has one (see skillmix regrade)")
        every = [*by_grader, *juries]
        for results in every:
            print_report(results, console)
        if data.graders:
            agreement = cross_grader_agreement(data)
            print_grader_agreement(agreement, data.config.grader.label, console)
            print_length_bias(length_bias(by_grader), console)
        graders = [data.config.grader, *(g.entry for g in data.graders)]
        for line in self_preference(data.config.students, graders):
            console.print(f"note: {line}", markup=False, highlight=False)
        if split := data.config.catalog.split:
            console.print(f"catalog split: {split.describe()}", markup=False, highlight=False)
        for flagged, line in training_notes(data):
            if flagged:
                warn(line)
            else:
                console.print(f"note: {line}", markup=False, highlight=False)
        out = run_dir / "leaderboard.csv"
        try:
            write_leaderboard(every, out)
            console.print(f"leaderboard: {out}")
        except SkillmixError as exc:
            warn(f"{exc}; the table above is the report")
        if html is not None:
            console.print(f"html report: {_html_report(run_dir, html, per_page)}")


def _html_report(run_dir: Path, html: Path, per_page: int) -> Path:
    from skillmix.results.html import write_html_report  # matplotlib: only when asked

    return write_html_report(run_dir, html, per_page=per_page)


def compare_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with both models.")],
    a: Annotated[str, typer.Option("--a", help="Model label A.")],
    b: Annotated[str, typer.Option("--b", help="Model label B.")],
    metric: Annotated[
        str,
        typer.Option(
            help="full_marks, all_skills or skill_fraction (ConceptMix: full_marks or "
            "concept_fraction)."
        ),
    ] = "full_marks",
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    grader: Annotated[
        str | None, typer.Option(help="The grader whose gradings count (default: the run's).")
    ] = None,
) -> None:
    """Paired comparison of two models on the same items: per-k difference with a paired
    bootstrap interval, and McNemar's test on full marks."""
    from skillmix.results.analysis import compare
    from skillmix.results.conceptmix.export import METRICS as CONCEPT_METRICS
    from skillmix.results.conceptmix.load import is_conceptmix_run
    from skillmix.results.frames import load_run
    from skillmix.results.metrics import METRICS
    from skillmix.results.terminal import print_comparison

    with user_errors():
        if metric not in {*METRICS, *CONCEPT_METRICS}:
            known = ", ".join(dict.fromkeys([*METRICS, *CONCEPT_METRICS]))
            raise SkillmixError(f"unknown metric {metric!r} (known: {known})", field="--metric")
        if is_conceptmix_run(run_dir):
            table = conceptmix_comparison(run_dir, a, b, metric, seed, grader)
            print_comparison(table, a, b, metric, console)
            return
        if metric not in METRICS:
            raise SkillmixError(
                f"unknown metric {metric!r} (known: {', '.join(METRICS)})", field="--metric"
            )
        frames = load_run(run_dir, grader, texts=False)
        try:
            table = compare(frames, a, b, metric=metric, seed=seed)
        except ValueError as exc:
            raise SkillmixError(str(exc), file=run_dir) from None
    print_comparison(table, a, b, metric, console)


def export_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories.")],
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Leaderboard CSV: one row per model x k x metric.")
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option("--jsonl", help="Every item, generation and grading of one run, as JSONL."),
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet", help="A folder for one run's load_run frames as Parquet (pyarrow)."
        ),
    ] = None,
) -> None:
    """Write the leaderboard CSV of runs, every record of a run as JSONL, or a run's frames as
    Parquet (pandas, DuckDB)."""
    from skillmix.outputs import check_output_file
    from skillmix.results.conceptmix.export import export_conceptmix_jsonl
    from skillmix.results.jsonl import export_jsonl
    from skillmix.results.leaderboard import export_csv
    from skillmix.run.store import RunStore

    with user_errors():
        if csv is None and jsonl is None and parquet is None:
            wanted = "give --csv FILE, --jsonl FILE and/or --parquet DIR"
            raise SkillmixError(wanted, field="export")
        for given, option in ((jsonl, "--jsonl"), (parquet, "--parquet")):
            if given is not None and len(run_dirs) != 1:
                raise SkillmixError(f"{option} exports one run directory at a time", field=option)
        for out, option in ((csv, "--csv"), (jsonl, "--jsonl")):
            if out is not None:
                check_output_file(out, option)
        conceptmix = suite_of(run_dirs)
        if csv is not None:
            frame = conceptmix_csv(run_dirs, csv) if conceptmix else export_csv(run_dirs, csv)
            console.print(f"{len(frame)} rows -> {csv}")
        if jsonl is not None:
            store = RunStore.open_for_reading(run_dirs[0])
            try:
                write = export_conceptmix_jsonl if conceptmix else export_jsonl
                lines = write(store, jsonl)
            finally:
                store.close()
            console.print(f"{lines} records -> {jsonl}")
        if parquet is not None:
            _export_parquet(run_dirs[0], parquet)


def _export_parquet(run_dir: Path, folder: Path) -> None:
    from skillmix.results.parquet import export_parquet
    from skillmix.run.store import RunStore

    store = RunStore.open_for_reading(run_dir)
    try:
        rows = export_parquet(store, folder)
    finally:
        store.close()
    counts = ", ".join(f"{name} {n}" for name, n in rows.items())
    console.print(f"{counts} rows -> {folder}")


def suite_of(run_dirs: list[Path]) -> bool:
    """Whether the runs are ConceptMix runs (True) or Skill-Mix runs; a mix is refused."""
    from skillmix.results.conceptmix.load import is_conceptmix_run

    kinds = [is_conceptmix_run(run_dir) for run_dir in run_dirs]
    if len(set(kinds)) > 1:
        odd = run_dirs[kinds.index(not kinds[0])]
        raise SkillmixError(
            "mixes ConceptMix and Skill-Mix runs: export each suite on its own", file=odd
        )
    return kinds[0]


def conceptmix_csv(run_dirs: list[Path], out: Path) -> pd.DataFrame:
    """The results rows of ConceptMix runs, stacked, each row naming its run."""
    import pandas as pd

    from skillmix.results.conceptmix.export import conceptmix_csv_frame
    from skillmix.results.conceptmix.load import load_conceptmix
    from skillmix.results.leaderboard import write_csv

    frames = [conceptmix_csv_frame(load_conceptmix(d), d) for d in run_dirs]
    return write_csv(pd.concat(frames, ignore_index=True), out)


def conceptmix_comparison(
    run_dir: Path, a: str, b: str, metric: str, seed: int, grader: str | None
) -> pd.DataFrame:
    from skillmix.results.conceptmix.export import METRICS, compare_conceptmix
    from skillmix.results.conceptmix.load import load_conceptmix

    if metric not in METRICS:
        known = ", ".join(METRICS)
        raise SkillmixError(
            f"unknown metric {metric!r} for a ConceptMix run (known: {known})", field="--metric"
        )
    results = load_conceptmix(run_dir)
    if grader is not None and grader != results.grader:
        raise SkillmixError(
            f"a ConceptMix run has one grader, {results.grader!r}", field="--grader"
        )
    try:
        return compare_conceptmix(results, a, b, metric=metric, seed=seed)
    except ValueError as exc:
        raise SkillmixError(str(exc), file=run_dir) from None
