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
    assert html.count('<details class="item">') == 2 * 24 * 2  # every generation is browsable
    assert not (report.parent / "report_items").exists()  # few enough for one page
    assert "krippendorff_alpha" in html and "novel_share_at_least" in html


def test_many_generations_are_paged_and_all_reachable(report: Path, tmp_path: Path) -> None:
    run_dir = report.parent / "run"
    out = tmp_path / "paged.html"
    paged = ["report", str(run_dir), "--html", str(out), "--per-page", "10"]
    result = CliRunner().invoke(app, paged)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert '<details class="item">' not in html  # the report holds the index, not the items
    pages = sorted((tmp_path / "paged_items").glob("page-*.html"))
    assert [p.name for p in pages] == [f"page-{n:04d}.html" for n in range(1, 11)]  # 96 / 10
    for page in pages:
        assert f'href="paged_items/{page.name}"' in html
    titles = []
    for number, page in enumerate(pages, start=1):
        text = page.read_text()
        titles += re.findall(r'<details class="item"><summary>(.*?)</summary>', text)
        assert text.count('<details class="item">') == (10 if number < 10 else 6)
        assert (f'href="page-{number + 1:04d}.html">next' in text) == (number < 10)
        assert (f'href="page-{number - 1:04d}.html">previous' in text) == (number > 1)
        assert 'href="../paged.html"' in text and 'oninput="filterItems' in text
    assert len(titles) == len(set(titles)) == 2 * 24 * 2  # each generation once
    assert [t.split(" · ")[0] for t in titles] == sorted(t.split(" · ")[0] for t in titles)
    # pages of a bigger earlier report do not linger; one page again removes the folder
    again = ["report", str(run_dir), "--html", str(out), "--per-page", "50"]
    assert CliRunner().invoke(app, again).exit_code == 0
    assert len(list((tmp_path / "paged_items").glob("page-*.html"))) == 2
    once = ["report", str(run_dir), "--html", str(out), "--per-page", "500"]
    assert CliRunner().invoke(app, once).exit_code == 0
    assert not (tmp_path / "paged_items").exists()
    assert out.read_text().count('<details class="item">') == 2 * 24 * 2


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
