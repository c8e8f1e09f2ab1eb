"""Where things are: the repository, the test fixtures, the shared reference files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"
# the catalog section of a run config that uses the bundled data/ catalog
BUNDLED_CATALOG = {
    "skills": str(ROOT / "data" / "skills.yaml"),
    "topics": str(ROOT / "data" / "topics.yaml"),
}
