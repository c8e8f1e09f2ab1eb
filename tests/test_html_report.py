"""The HTML report: self-contained, opened and screenshotted in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
from conftest import ROOT
from typer.testing import CliRunner
from wire_servers import running_server

import skillmix
from skillmix.cli import app

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
    with running_server() as server:
        entry: dict[str, Any] = {
            "model": "openai/gpt-4o-mini",
            "base_url": f"{server.base_url}/v1",
            "api_key_env": "SKILLMIX_TEST_KEY",
        }
        config = {
            "name": "html <demo>",
            "output_dir": str(folder / "run"),
            "k": [1, 2, 3],
            "items_per_k": 8,
            "generations": 2,
            "gradings": 3,
            "catalog": {
                "skills": str(ROOT / "data/skills.yaml"),
                "topics": str(ROOT / "data/topics.yaml"),
            },
            "students": [
                {**entry, "name": "alpha"},
                {**entry, "name": "beta", "params": {"top_p": 0.5}},
            ],
            "grader": {**entry, "name": "judge"},
        }
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SKILLMIX_TEST_KEY", "test")
            skillmix.evaluate(config)
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
