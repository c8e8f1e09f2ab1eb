"""Reading the official repository's records.csv files as the tests compare with them."""

from __future__ import annotations

import csv
import re
from pathlib import Path


def read_records(path: Path) -> list[dict[str, str]]:
    previous = csv.field_size_limit(1 << 30)  # cells can be very long
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    finally:
        csv.field_size_limit(previous)


def official_skills(cell: str) -> tuple[str, ...]:
    """The skills column of the official records: names separated by ',' and line breaks."""
    return tuple(part.strip() for part in re.split(r",\s*\n", cell) if part.strip())
