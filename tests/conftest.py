from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.paths import SHARED_REFERENCE


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not SHARED_REFERENCE.is_dir():
        pytest.skip("../shared/reference is not beside this checkout")
    return SHARED_REFERENCE
