"""The results of a ConceptMix run as one value: its configuration, records, outcomes and
metrics. The terminal tables, the CSV files and the HTML page are all views of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from skillmix.errors import SkillmixError
from skillmix.records import ConceptItem, ImageRecord, VerdictRecord, WritingRecord
from skillmix.results.conceptmix.build import Outcomes, build_outcomes
from skillmix.results.conceptmix.metrics import ModelMetrics, conceptmix_metrics, metrics_frame


@dataclass(frozen=True)
class ConceptResults:
    config: dict[str, Any]  # the run's stored configuration, as JSON
    run_id: str
    grader: str  # the grader's label
    models: tuple[str, ...]  # the text-to-image models' labels, configured ones first
    ks: tuple[int, ...]
    items: list[ConceptItem]
    images: list[ImageRecord]
    verdicts: list[VerdictRecord]
    outcomes: Outcomes
    metrics: list[ModelMetrics]  # one per model, in `models` order
    writings: list[WritingRecord] = field(default_factory=list)  # how written items were

    def frame(self) -> pd.DataFrame:
        """The metrics in long form (see metrics.metrics_frame)."""
        return metrics_frame(self.metrics)


def entry_label(entry: object, field: str, source: Path | str | None = None) -> str:
    """A model entry's label: its `name`, or else its `model`."""
    if not isinstance(entry, dict):
        raise SkillmixError("expected a model entry (name, model)", file=source, field=field)
    label = entry.get("name") or entry.get("model")
    if not isinstance(label, str) or not label:
        raise SkillmixError("the entry has neither name nor model", file=source, field=field)
    return label


def configured_models(config: dict[str, Any], source: Path | str | None = None) -> list[str]:
    entries = config.get("models", [])
    if not isinstance(entries, list):
        raise SkillmixError("expected a list of model entries", file=source, field="models")
    return [entry_label(entry, f"models[{i}]", source) for i, entry in enumerate(entries)]


def _whole_number(config: dict[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def conceptmix_results(
    config: dict[str, Any],
    items: Sequence[ConceptItem],
    images: Sequence[ImageRecord],
    verdicts: Sequence[VerdictRecord],
    *,
    run_id: str = "",
    source: Path | str | None = None,
    resamples: int = 2000,
    writings: Sequence[WritingRecord] = (),
) -> ConceptResults:
    """The results of a run's records under its configuration (`grader`, `models`,
    `images_per_prompt`, `seed` for the bootstrap); `source` names it in errors."""
    grader = entry_label(config.get("grader"), "grader", source)
    configured = configured_models(config, source)
    outcomes = build_outcomes(
        items,
        images,
        verdicts,
        grader,
        models=configured,
        images_per_prompt=_whole_number(config, "images_per_prompt", 1),
    )
    ks = sorted({item.k for item in items})
    seed = _whole_number(config, "seed", 0)
    metrics = conceptmix_metrics(outcomes, configured, ks, seed=seed, resamples=resamples)
    return ConceptResults(
        config=config,
        run_id=run_id,
        grader=grader,
        models=tuple(model.model for model in metrics),
        ks=tuple(ks),
        items=list(items),
        images=list(images),
        verdicts=list(verdicts),
        outcomes=outcomes,
        metrics=metrics,
        writings=list(writings),
    )
