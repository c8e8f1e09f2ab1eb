from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"
# the catalog section of a run config that uses the bundled data/ catalog
BUNDLED_CATALOG = {
    "skills": str(ROOT / "data" / "skills.yaml"),
    "topics": str(ROOT / "data" / "topics.yaml"),
}

csv.field_size_limit(1 << 30)


def read_records(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def official_skills(cell: str) -> tuple[str, ...]:
    """The skills column of the official records: names separated by ',' and line breaks."""
    return tuple(part.strip() for part in re.split(r",\s*\n", cell) if part.strip())


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not SHARED_REFERENCE.is_dir():
        pytest.skip("../shared/reference is not beside this checkout")
    return SHARED_REFERENCE
