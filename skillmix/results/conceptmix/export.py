"""A ConceptMix run's records as JSON Lines, its results as CSV, and the paired comparison of
two of its text-to-image models (the `export` and `compare` commands on a ConceptMix run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skillmix.outputs import write_jsonl
from skillmix.results.analysis import comparison_row
from skillmix.results.conceptmix.build import ImageOutcome
from skillmix.results.conceptmix.leaderboard import results_frame
from skillmix.results.conceptmix.results import ConceptResults
from skillmix.run.conceptmix.store import ConceptStore
from skillmix.run.store import RunStore

# compare's metrics on a ConceptMix run: per image, its full mark (0 or 1) or its share of Yes
METRICS = {"full_marks": "full_mark", "concept_fraction": "concept_fraction"}


def export_conceptmix_jsonl(store: RunStore, out: Path) -> int:
    """Every stored item, writing record, image and verdict: one JSON object per line tagged
    by `table`, the first line the run's configuration. Returns the number of lines."""
    concept = ConceptStore(store)
    lines: list[dict[str, Any]] = [{"table": "config", **json.loads(concept.config_json() or "{}")}]
    records = (
        ("item", concept.items()),
        ("writing", concept.writings()),
        ("image", concept.images()),
        ("verdict", concept.verdicts()),
    )
    for table, rows in records:
        lines += [{"table": table, **row.model_dump(mode="json")} for row in rows]
    write_jsonl(out, lines)
    return len(lines)


def conceptmix_csv_frame(results: ConceptResults, run_dir: Path) -> pd.DataFrame:
    """results.csv's rows, each with the run it comes from (several runs stack)."""
    frame = results_frame(results)
    frame.insert(0, "run", str(results.config.get("name") or run_dir.name))
    return frame


def _score(outcome: ImageOutcome, metric: str) -> float:
    if metric == "full_mark":
        return float(bool(outcome.full_mark))
    return outcome.yes / outcome.questions  # refused images answered no question Yes


def compare_conceptmix(
    results: ConceptResults, a: str, b: str, *, metric: str, seed: int = 0, resamples: int = 2000
) -> pd.DataFrame:
    """Per k, on the images both models have in the rates (the same item and image number):
    each mean, the paired difference a - b with a bootstrap interval, and McNemar's test on
    full marks. Columns as the Skill-Mix comparison's."""
    measure = METRICS[metric]
    for name in (a, b):
        if name not in results.models:
            raise ValueError(f"no images of model {name!r} (models: {list(results.models)})")
    scored = {(o.model, o.item.item_id, o.image): o for o in results.outcomes.images if o.in_rates}
    rows = []
    for k in results.ks:
        pairs = [
            (first, scored[(b, item_id, image)])
            for (model, item_id, image), first in scored.items()
            if model == a and first.item.k == k and (b, item_id, image) in scored
        ]
        scores_a = [_score(x, measure) for x, _ in pairs]
        scores_b = [_score(y, measure) for _, y in pairs]
        full_a = [bool(x.full_mark) for x, _ in pairs]
        full_b = [bool(y.full_mark) for _, y in pairs]
        scores = (np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float))
        full = (full_a, full_b)
        rows.append(comparison_row(k, (a, b), scores, full, resamples=resamples, seed=seed))
    return pd.DataFrame(rows)
