"""The one config factory of the tests: a valid run config as a mapping, changed per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers.paths import BUNDLED_CATALOG

Entry = dict[str, Any]


def model_entry(model: str, **fields: Any) -> Entry:
    """A `students[i]` / `grader` entry: the model string and any other keys."""
    return {"model": model, **fields}


def run_config(
    output_dir: Path | str,
    /,
    *,
    students: list[Entry] | str = "llamacpp/smollm2",
    grader: Entry | str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A run of the bundled catalog (seed 0, k = 1, 2 items, G = R = 1) into `output_dir`,
    named after it. `students` and `grader` take model strings or entries (the grader
    defaults to the first student's entry); any other top-level key is set as given."""
    entries = [model_entry(students)] if isinstance(students, str) else students
    judge = model_entry(grader) if isinstance(grader, str) else grader
    config: dict[str, Any] = {
        "name": Path(output_dir).name,
        "output_dir": str(output_dir),
        "catalog": dict(BUNDLED_CATALOG),
        "seed": 0,
        "k": [1],
        "items_per_k": 2,
        "generations": 1,
        "gradings": 1,
        "students": entries,
        "grader": judge if judge is not None else dict(entries[0]),
    }
    config.update(fields)
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """The config as a YAML file at `path`."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
