"""The HTML report: self-contained, opened and screenshotted in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from tests.helpers.runs import evaluate_two_students

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("html")
    evaluate_two_students(folder / "run", "html <demo>", items_per_k=8, students=["alpha", "beta"])
    out = folder / "report.html"
    result = CliRunner().invoke(app, ["report", str(folder / "run"), "--html", str(out)])
    assert result.exit_code == 0, result.output
    yield out


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert "html &lt;demo&gt;" in html  # names are escaped
    assert not re.search(r"""(src|href)=["']https?://""", html)  # nothing fetched from a network
    assert html.count("data:image/png;base64,") >= 3  # curves + one heat map per model
    for section in ("leaderboard", "curves", "skills", "agreement", "novelty", "cost", "items"):
        assert f'id="{section}"' in html
    assert html.count("<details>") == 2 * 24 * 2  # every generation is browsable
    assert "krippendorff_alpha" in html and "novel_share_at_least" in html


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *profile, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert '<div id="leaderboard-table"><table>' in dom
    assert dom.count("<img") >= 3 and "alpha" in dom and "beta" in dom
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            *profile,
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 1600 and pixels.shape[1] == 1200
    assert float(np.std(pixels)) > 0.05  # not a blank page: text, tables and plots drawn
