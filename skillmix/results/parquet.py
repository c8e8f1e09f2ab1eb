"""`skillmix export RUN_DIR --parquet DIR`: load_run's DataFrames as Parquet files (pyarrow),
one per frame, with the run's configuration beside them."""

from __future__ import annotations

import importlib.util
import json
from functools import partial
from pathlib import Path

import pandas as pd

from skillmix.errors import SkillmixError
from skillmix.outputs import write_file, write_text
from skillmix.results.build import load_results
from skillmix.results.frames import FRAME_BUILDERS
from skillmix.run.store import RunStore
from skillmix.run.store_reading import gc_paused

NESTED = ("points", "grader_points")  # rubric dicts, as JSON text: their keys vary by item


def export_parquet(store: RunStore, folder: Path) -> dict[str, int]:
    """FOLDER/<frame>.parquet for each frame and FOLDER/config.json; the rows per frame."""
    if importlib.util.find_spec("pyarrow") is None:
        raise SkillmixError("needs pyarrow: pip install 'skillmix[parquet]'", field="--parquet")
    if folder.exists() and not folder.is_dir():
        raise SkillmixError("is a file: --parquet names a folder to write", file=folder)
    results = load_results(store)  # a ConceptMix store is refused in one line
    rows = {}
    for name, build in FRAME_BUILDERS.items():  # one frame in memory at a time
        with gc_paused():
            frame = build(results)
        if name == "gradings":
            frame = frame.assign(**{c: frame[c].map(_json_or_none) for c in NESTED})
        write_file(folder / f"{name}.parquet", partial(_to_parquet, frame))
        rows[name] = len(frame)
    write_text(folder / "config.json", results.config.model_dump_json(indent=2))
    return rows


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _json_or_none(value: object) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)
