"""ConceptMix results from hand-made records whose figures are known: outcomes, metrics, the
terminal tables, leaderboard.csv and results.csv, the HTML page, and loading a real store."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image
from rich.console import Console
from scipy.stats import binomtest

from skillmix.errors import SkillmixError
from skillmix.records import (
    Concept,
    ConceptItem,
    ImageRecord,
    ImageStatus,
    Question,
    VerdictRecord,
    VerdictStatus,
)
from skillmix.results.conceptmix.build import ImageOutcomeStatus, build_outcomes
from skillmix.results.conceptmix.html import conceptmix_html, thumbnail
from skillmix.results.conceptmix.load import load_conceptmix, write_reports
from skillmix.results.conceptmix.metrics import Rate, wilson_interval
from skillmix.results.conceptmix.results import ConceptResults, conceptmix_results
from skillmix.results.conceptmix.terminal import print_conceptmix
from skillmix.results.stats.intervals import bootstrap_ci
from skillmix.run.conceptmix.store import ConceptStore, ImageFiles
from skillmix.run.store import RunStore

GRADER = "judge"
CONFIG: dict[str, Any] = {
    "name": "cm <demo>",
    "grader": {"model": GRADER},
    "models": [{"model": "fake/alpha", "name": "alpha"}, {"model": "beta"}],
    "images_per_prompt": 1,
}
SCRIPT = "a cat <script>alert(1)</script> on a mat"
Y, N, U = VerdictStatus.YES, VerdictStatus.NO, VerdictStatus.UNGRADED
# item id -> question categories (None: not aligned with a concept)
QUESTIONS: dict[str, tuple[str | None, ...]] = {
    **{f"k1-000{i}": ("object", "color") for i in range(4)},
    "k2-0000": ("object", "color", "spatial"),
    "k2-0001": (None,),
    "k2-0002": ("object", "color", "size"),
    "k2-0003": ("object", "shape", "size"),
    "k2-0004": ("object", "texture", "style"),
    "k2-0005": (),  # no question: left out and counted
}
# alpha: (item, image status, verdicts per question; None: not graded yet)
Entry = tuple[str, ImageStatus, tuple[VerdictStatus | None, ...]]
ALPHA: list[Entry] = [
    ("k1-0000", ImageStatus.OK, (Y, Y)),  # full mark
    ("k1-0001", ImageStatus.OK, (Y, N)),
    ("k1-0002", ImageStatus.REFUSED, ()),  # counts as 0 of 2
    ("k1-0003", ImageStatus.FAILED, ()),  # left out, counted as failed
    ("k2-0000", ImageStatus.OK, (Y, Y, Y)),  # full mark
    ("k2-0001", ImageStatus.OK, (N,)),
    ("k2-0002", ImageStatus.OK, (Y, U, Y)),  # left out, counted as ungraded
    # k2-0003: no image record: pending
    ("k2-0004", ImageStatus.OK, (Y, None, None)),  # not fully graded yet: pending
]
OK_IMAGES = 6 + 4  # alpha's drawn images, and beta's four at k=1


def item(item_id: str) -> ConceptItem:
    categories = QUESTIONS[item_id]
    k, index = int(item_id[1]), int(item_id[-1])
    prompt = SCRIPT if item_id == "k1-0000" else f"prompt of {item_id}"
    questions = tuple(
        Question(text=f"Is there a {c or 'thing'} ({item_id})?", category=c, value="v")
        for c in categories
    )
    concepts = tuple(Concept(category=c or "object", value="v") for c in categories)
    return ConceptItem(
        item_id=item_id,
        k=k,
        index=index,
        prompt=prompt,
        concepts=concepts,
        questions=questions,
        source="generated",
    )


def image(model: str, item_id: str, status: ImageStatus, sha256: str | None = None) -> ImageRecord:
    drawn = status == ImageStatus.OK
    return ImageRecord(
        model=model,
        item_id=item_id,
        image=0,
        status=status,
        sha256=sha256 if drawn else None,
        media_type="image/png" if drawn else None,
        revised_prompt="a revised <b>cat</b>" if item_id == "k1-0001" else None,
        reason="content policy" if status == ImageStatus.REFUSED else None,
    )


def verdict(
    model: str, item_id: str, question: int, status: VerdictStatus, grader: str = GRADER
) -> VerdictRecord:
    p_yes = 0.93 if (item_id, question) == ("k1-0000", 0) else None
    return VerdictRecord(
        model=model,
        item_id=item_id,
        image=0,
        grader=grader,
        question=question,
        status=status,
        p_yes=p_yes,
    )


def png(color: tuple[int, int, int], size: tuple[int, int] = (400, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def records(files: ImageFiles | None = None) -> tuple[list[ImageRecord], list[VerdictRecord]]:
    images: list[ImageRecord] = []
    verdicts: list[VerdictRecord] = []
    beta: list[Entry] = [(f"k1-000{i}", ImageStatus.OK, (Y, Y)) for i in range(4)]
    runs: list[tuple[str, list[Entry]]] = [("alpha", ALPHA), ("beta", beta)]
    for number, (model, entries) in enumerate(runs):
        for index, (item_id, status, answers) in enumerate(entries):
            data = png((30 * index, 100 * number, 50))
            sha256 = files.write(data, "image/png") if files else f"{index:064x}"
            images.append(image(model, item_id, status, sha256))
            verdicts += [verdict(model, item_id, q, a) for q, a in enumerate(answers) if a]
    # another grader's Yes would make k1-0001 a full mark: it must not count
    verdicts.append(verdict("alpha", "k1-0001", 1, Y, grader="other"))
    return images, verdicts


def all_items() -> list[ConceptItem]:
    return [item(item_id) for item_id in QUESTIONS]


@pytest.fixture(scope="module")
def results() -> ConceptResults:
    images, verdicts = records()
    return conceptmix_results(CONFIG, all_items(), images, verdicts, run_id="r1")


def test_outcome_rules() -> None:
    images, verdicts = records()
    outcomes = build_outcomes(all_items(), images, verdicts, GRADER, models=["alpha", "beta"])
    alpha = {o.item.item_id: o for o in outcomes.images if o.model == "alpha"}
    statuses = {item_id: o.status.value for item_id, o in alpha.items()}
    assert statuses == {
        "k1-0000": "scored",
        "k1-0001": "scored",
        "k1-0002": "refused",
        "k1-0003": "failed",
        "k2-0000": "scored",
        "k2-0001": "scored",
        "k2-0002": "incomplete",
        "k2-0003": "pending",
        "k2-0004": "incomplete",
    }
    assert [i.item_id for i in outcomes.empty_items] == ["k2-0005"]
    assert [alpha[i].full_mark for i in ("k1-0000", "k1-0001", "k1-0002", "k1-0003")] == [
        True,
        False,
        False,  # refused: no full mark, but counted
        None,  # failed: left out
    ]
    assert (alpha["k1-0001"].yes, alpha["k1-0001"].graded) == (1, 2)
    assert (alpha["k2-0002"].ungraded, alpha["k2-0002"].graded) == (1, 2)
    assert alpha["k2-0004"].awaiting and not alpha["k2-0002"].awaiting
    assert alpha["k1-0002"].satisfied() == [False, False]
    assert alpha["k2-0003"].status == ImageOutcomeStatus.PENDING
    assert alpha["k2-0003"].verdicts == (None, None, None)
    assert len([o for o in outcomes.images if o.model == "beta"]) == 9  # 4 drawn + 5 pending


def test_full_mark_and_counts_per_k(results: ConceptResults) -> None:
    alpha, beta = results.metrics
    assert (alpha.model, beta.model) == ("alpha", "beta")
    one, two = alpha.by_k
    # k=1: full, not full, refused (0) counted; failed left out
    assert (one.images, one.full_marks, one.full_mark) == (3, 1, 1 / 3)
    assert (one.refused, one.failed, one.ungraded, one.pending, one.empty_items) == (1, 1, 0, 0, 0)
    # k=2: two scored; the ungraded one left out; one not drawn, one half graded: pending
    assert (two.images, two.full_marks, two.full_mark) == (2, 1, 0.5)
    assert (two.refused, two.failed, two.ungraded, two.pending, two.empty_items) == (0, 0, 1, 2, 1)
    beta_two = beta.by_k[1]
    assert (beta.by_k[0].full_mark, beta_two.images, beta_two.pending) == (1.0, 0, 5)
    assert math.isnan(beta_two.full_mark) and math.isnan(beta_two.wilson.low)


def test_micro_and_macro_concept_fractions_differ(results: ConceptResults) -> None:
    one, two = results.metrics[0].by_k
    # k=1: yes 2 + 1 + 0 of 6 questions; per image 1, 1/2, 0
    assert (one.concept_fraction_micro, one.concept_fraction_macro) == (0.5, 0.5)
    # k=2: 3 of 3 and 0 of 1: micro 3/4, macro (1 + 0) / 2
    assert (two.concept_fraction_micro, two.concept_fraction_macro) == (0.75, 0.5)


def test_per_category_accuracy(results: ConceptResults) -> None:
    alpha = results.metrics[0]
    assert alpha.by_k[0].categories == {"object": Rate(2, 3), "color": Rate(1, 3)}
    assert alpha.by_k[1].categories == {
        "object": Rate(1, 1),
        "color": Rate(1, 1),
        "spatial": Rate(1, 1),
        "unaligned": Rate(0, 1),
    }
    pooled = {"object": Rate(3, 4), "color": Rate(2, 4), "spatial": Rate(1, 1)}
    assert alpha.categories == {**pooled, "unaligned": Rate(0, 1)}
    assert list(alpha.categories) == ["object", "color", "spatial", "unaligned"]


@pytest.mark.parametrize(("hits", "n"), [(1, 3), (1, 2), (4, 4), (0, 5), (156, 300)])
def test_wilson_matches_scipy(hits: int, n: int) -> None:
    expected = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    found = wilson_interval(hits, n)
    assert found.low == pytest.approx(expected.low, abs=1e-12)
    assert found.high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_by_hand_and_bootstrap(results: ConceptResults) -> None:
    one = results.metrics[0].by_k[0]
    assert (round(one.wilson.low, 4), round(one.wilson.high, 4)) == (0.0615, 0.7923)
    assert round(wilson_interval(156, 300).high - 0.52, 3) == 0.056  # the official 0.52 ±0.06
    assert one.bootstrap == bootstrap_ci([1.0, 0.0, 0.0], seed=0)
    assert one.bootstrap.low <= one.full_mark <= one.bootstrap.high
    assert one.bootstrap.low < one.bootstrap.high


def test_long_frame(results: ConceptResults) -> None:
    frame = results.frame()
    row = frame[(frame.model == "alpha") & (frame.k == 2)].set_index("metric")
    assert row.loc["concept_fraction_micro", "value"] == 0.75
    assert row.loc["full_mark", "n"] == 2 and row.loc["full_mark", "ungraded"] == 1
    assert row.loc["category:unaligned", "value"] == 0.0
    assert set(frame.model) == {"alpha", "beta"}


def printed(results: ConceptResults, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    print_conceptmix(results, console)
    return console.export_text().splitlines()


def header(lines: list[str]) -> list[str]:
    return [cell.strip() for cell in next(line for line in lines if "┃" in line).split("┃")[1:-1]]


def test_terminal_tables(results: ConceptResults) -> None:
    wide = printed(results, 140)
    assert header(wide) == [
        *("k", "images", "full-mark", "micro", "macro"),
        *("refused", "failed", "ungraded", "pending"),
    ]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in wide if line.startswith("│")]
    assert ["1", "3", "0.33 ±0.37", "0.50", "0.50", "1", "1", "0", "0"] in rows
    assert ["2", "2", "0.50 ±0.41", "0.75", "0.50", "0", "0", "1", "2"] in rows
    assert ["unaligned", "-", "0.00", "0.00", "1"] in rows  # per-category: k=1, k=2, all, n
    assert any("1 items with no question left out (k = 2)" in line for line in wide)
    narrow = printed(results, 60)
    assert header(narrow) == ["k", "n", "full", "µ", "M", "ref", "fail", "ungr", "pend"]
    assert max(len(line) for line in narrow) <= 60


def test_leaderboard_and_results_files(results: ConceptResults, tmp_path: Path) -> None:
    written = write_reports(results, tmp_path)
    assert written.leaderboard.read_text(encoding="utf-8").splitlines() == [
        "Model,k=1,k=2",
        "alpha,0.33 ±0.37,0.50 ±0.41",
        "beta,1.00 ±0.24,",
    ]
    table = pd.read_csv(written.results)
    assert list(table.columns) == [
        *("model", "k", "images", "full_mark", "ci_low", "ci_high"),
        *("concept_fraction_micro", "concept_fraction_macro"),
        *("refused", "failed", "ungraded", "pending"),
    ]
    alpha_two = table[(table.model == "alpha") & (table.k == 2)].iloc[0]
    assert alpha_two.tolist() == pytest.approx(
        ["alpha", 2, 2, 0.5, 0.0945, 0.9055, 0.75, 0.5, 0, 0, 1, 2], abs=5e-5
    )
    assert math.isnan(table[(table.model == "beta") & (table.k == 2)].iloc[0].full_mark)


def test_html_thumbnails_and_escaping(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path)
    images, verdicts = records(files)
    found = conceptmix_results(CONFIG, all_items(), images, verdicts, run_id="r1")
    page = conceptmix_html(found, files)
    assert page.count("<img") == OK_IMAGES
    assert page.count('src="data:image/png;base64,') == OK_IMAGES
    assert page.count('width="192" height="144"') == OK_IMAGES  # 400x300 scaled to 192 px
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "cm &lt;demo&gt;" in page and "revised: a revised &lt;b&gt;cat&lt;/b&gt;" in page
    assert "yes, P(yes) 0.93" in page and ">ungraded<" in page and "refused (no)" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert page.count('class="bar"') == 4 + 2  # alpha's categories, beta's


def test_html_names_a_missing_file(tmp_path: Path) -> None:
    images, verdicts = records()  # sha256s with no file behind them
    found = conceptmix_results(CONFIG, all_items(), images, verdicts)
    page = conceptmix_html(found, ImageFiles(tmp_path))
    assert page.count("<img") == 0
    assert page.count("image unreadable: ") == OK_IMAGES


def test_thumbnail_keeps_small_images() -> None:
    url, width, height = thumbnail(png((1, 2, 3), (64, 40)))
    assert (width, height) == (64, 40) and url.startswith("data:image/png;base64,")


def make_store(run_dir: Path, *, conceptmix: bool = True, config: object = CONFIG) -> None:
    store = RunStore(run_dir)
    try:
        if conceptmix:
            concept = ConceptStore(store)
            concept.create_tables()
            store.set_meta("config", json.dumps(config))
            concept.put_items(all_items())
            images, verdicts = records(concept.files)
            for record in images:
                concept.put_image(record)
            for answer in verdicts:
                concept.put_verdict(answer)
    finally:
        store.close()


def test_load_a_real_store_and_write_reports(tmp_path: Path) -> None:
    make_store(tmp_path)
    loaded = load_conceptmix(tmp_path)
    assert loaded.grader == GRADER and loaded.models == ("alpha", "beta")
    assert loaded.ks == (1, 2) and len(loaded.run_id) == 12
    assert [m.by_k[0].full_mark for m in loaded.metrics] == [1 / 3, 1.0]
    written = write_reports(loaded, tmp_path)
    assert written.html.read_text(encoding="utf-8").count("<img") == OK_IMAGES
    assert written.leaderboard.read_text(encoding="utf-8").startswith("Model,k=1,k=2\nalpha,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".csv", ".html")) == [
        "leaderboard.csv",
        "report.html",
        "results.csv",
    ]


def test_a_skill_mix_store_is_refused(tmp_path: Path) -> None:
    make_store(tmp_path, conceptmix=False)
    with pytest.raises(SkillmixError) as caught:
        load_conceptmix(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'run.sqlite'}: not a ConceptMix run store (a Skill-Mix run)"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([1, 2], "stored configuration is not a mapping"),
        ({"models": []}, "grader: expected a model entry (name, model)"),
        ({"grader": {"name": ""}}, "grader: the entry has neither name nor model"),
        ({"grader": {"model": "g"}, "models": [{"x": 1}]}, "models[0]: the entry has neither"),
    ],
)
def test_bad_stored_configs(tmp_path: Path, config: object, message: str) -> None:
    make_store(tmp_path, config=config)
    with pytest.raises(SkillmixError, match=re.escape(f"{tmp_path / 'run.sqlite'}: {message}")):
        load_conceptmix(tmp_path)
