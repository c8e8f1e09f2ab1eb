"""A ConceptMix run's results, read from its run store (read-only), and its report files."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.results.conceptmix.leaderboard import write_leaderboard, write_results
from skillmix.results.conceptmix.results import ConceptResults, conceptmix_results
from skillmix.run.conceptmix.store import SUITE, ConceptStore, ImageFiles
from skillmix.run.store import RunStore
from skillmix.run.store_reading import store_error

LEADERBOARD_CSV = "leaderboard.csv"
RESULTS_CSV = "results.csv"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class ReportFiles:
    leaderboard: Path
    results: Path
    html: Path


def _config(text: str | None, source: Path) -> dict[str, Any]:
    if text is None:
        raise SkillmixError("the run has no configuration stored yet", file=source)
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SkillmixError(f"stored configuration is not JSON ({exc})", file=source) from None
    if not isinstance(config, dict):
        raise SkillmixError("stored configuration is not a mapping", file=source)
    return config


def _read(store: RunStore) -> ConceptResults:
    suite = store.get_meta("suite")
    if suite != SUITE:
        found = "a Skill-Mix run" if suite is None else f"suite {suite!r}"
        raise SkillmixError(f"not a ConceptMix run store ({found})", file=store.path)
    concept = ConceptStore(store)
    config = _config(concept.config_json(), store.path)
    return conceptmix_results(
        config,
        concept.items(),
        concept.images(),
        concept.verdicts(),
        run_id=store.get_meta("run_id") or "",
        source=store.path,
        writings=concept.writings(),
    )


def is_conceptmix_run(run_dir: Path) -> bool:
    """Whether a run directory's store holds a ConceptMix run (opened read-only)."""
    store = RunStore.open_for_reading(run_dir)
    try:
        return store.get_meta("suite") == SUITE
    finally:
        store.close()


def load_conceptmix(run_dir: Path) -> ConceptResults:
    """The results of the ConceptMix run in `run_dir`, its store opened read-only."""
    store = RunStore.open_for_reading(run_dir)
    try:
        return _read(store)
    except sqlite3.Error as exc:
        plain = SkillmixError(f"damaged ConceptMix run store ({exc})", file=store.path)
        raise store_error(store.path, exc) or plain from None
    finally:
        store.close()


def write_reports(results: ConceptResults, run_dir: Path) -> ReportFiles:
    """leaderboard.csv, results.csv and report.html, written whole into `run_dir` (the images
    are read from its images/ folder)."""
    from skillmix.results.conceptmix.html import write_conceptmix_html  # Pillow, matplotlib

    written = ReportFiles(run_dir / LEADERBOARD_CSV, run_dir / RESULTS_CSV, run_dir / REPORT_HTML)
    write_leaderboard(results, written.leaderboard)
    write_results(results, written.results)
    write_conceptmix_html(results, ImageFiles(run_dir), written.html)
    return written
