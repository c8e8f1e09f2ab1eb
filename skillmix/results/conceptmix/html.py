"""The ConceptMix report page: one self-contained HTML file. Per model, its k table, its
per-category accuracy as plain CSS bars, and every image as a thumbnail (at most 192 px,
embedded as a base64 PNG) with its prompt, revised prompt, questions and verdicts."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

import pandas as pd
from PIL import Image

from skillmix.errors import SkillmixError
from skillmix.outputs import write_text
from skillmix.records import Question, VerdictRecord, VerdictStatus
from skillmix.results.conceptmix.build import ImageOutcome, ImageOutcomeStatus
from skillmix.results.conceptmix.leaderboard import K_COLUMNS, k_row_cells, leaderboard_frame
from skillmix.results.conceptmix.metrics import ModelMetrics, Rate
from skillmix.results.conceptmix.results import ConceptResults
from skillmix.results.html import _table
from skillmix.run.conceptmix.store import ImageFiles

THUMBNAIL_PX = 192
STATUS_NOTES = {
    ImageOutcomeStatus.REFUSED: "refused by the provider: counted as 0",
    ImageOutcomeStatus.FAILED: "the image call failed: left out of the rates",
    ImageOutcomeStatus.PENDING: "not drawn yet",
}


def thumbnail(data: bytes, size: int = THUMBNAIL_PX) -> tuple[str, int, int]:
    """An image scaled to fit size x size (never enlarged), as a PNG data URL, with its width
    and height."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        picture = opened if opened.mode in ("RGB", "RGBA", "L", "LA") else opened.convert("RGBA")
        picture.thumbnail((size, size))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}", picture.width, picture.height


def _picture(outcome: ImageOutcome, files: ImageFiles) -> str:
    record = outcome.record
    if record is None or record.sha256 is None or record.media_type is None:
        note = STATUS_NOTES.get(outcome.status, "no image file recorded")
        return f'<div class="missing">{escape(note)}</div>'
    try:
        url, width, height = thumbnail(files.read(record.sha256, record.media_type))
    except (SkillmixError, OSError, Image.DecompressionBombError) as exc:
        return f'<div class="missing">{escape(f"image unreadable: {exc}")}</div>'
    alt = f"{outcome.model}, {outcome.item.item_id}, image {outcome.image}"
    return f'<img alt="{escape(alt)}" width="{width}" height="{height}" src="{url}">'


def _verdict(outcome: ImageOutcome, verdict: VerdictRecord | None) -> tuple[str, str]:
    """(css class, text) of a question's verdict."""
    if outcome.status == ImageOutcomeStatus.REFUSED:
        return "no", "refused (no)"
    if outcome.record is None or outcome.status == ImageOutcomeStatus.FAILED:
        return "pending", "–"
    if verdict is None:
        return "pending", "not graded yet"
    text = verdict.status.value
    if verdict.p_yes is not None:
        text += f", P(yes) {verdict.p_yes:.2f}"
    if verdict.status == VerdictStatus.UNGRADED and verdict.reason:
        text += f": {verdict.reason}"
    return verdict.status.value, text


def _questions(outcome: ImageOutcome) -> str:
    lines = []
    pairs: list[tuple[Question, VerdictRecord | None]] = list(
        zip(outcome.item.questions, outcome.verdicts, strict=True)
    )
    for question, verdict in pairs:
        css, text = _verdict(outcome, verdict)
        category = f" [{question.category}]" if question.category else ""
        lines.append(
            f'<li>{escape(question.text + category)} <b class="{css}">{escape(text)}</b></li>'
        )
    return f"<ul>{''.join(lines)}</ul>"


def _card(outcome: ImageOutcome, files: ImageFiles) -> str:
    status = outcome.status.value + (", full mark" if outcome.full_mark else "")
    title = f"{outcome.item.item_id} · image {outcome.image} · {status}"
    record = outcome.record
    parts = [
        _picture(outcome, files),
        f'<p class="id">{escape(title)}</p>',
        f'<p class="prompt">{escape(outcome.item.prompt)}</p>',
    ]
    if record is not None and record.revised_prompt:
        parts.append(f'<p class="revised">revised: {escape(record.revised_prompt)}</p>')
    if record is not None and record.reason:
        parts.append(f'<p class="note">{escape(record.reason)}</p>')
    parts.append(_questions(outcome))
    css = "card full" if outcome.full_mark else "card"
    return f'<figure class="{css}">{"".join(parts)}</figure>'


def _bars(categories: dict[str, Rate]) -> str:
    if not categories:
        return "<p class='note'>No question in the rates yet.</p>"
    rows = []
    for name, rate in categories.items():
        share = 0.0 if rate.total == 0 else 100 * rate.value
        rows.append(
            f'<div class="bar"><span class="label">{escape(name)}</span>'
            f'<span class="track"><span class="fill" style="width: {share:.1f}%"></span></span>'
            f'<span class="value">{rate.value:.2f} (n={rate.total})</span></div>'
        )
    return f'<div class="bars">{"".join(rows)}</div>'


def _k_table(model: ModelMetrics) -> str:
    frame = pd.DataFrame([k_row_cells(row) for row in model.by_k], columns=list(K_COLUMNS))
    return _table(frame)


def _model_section(model: ModelMetrics, outcomes: list[ImageOutcome], files: ImageFiles) -> str:
    by_k: dict[int, list[ImageOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_k[outcome.item.k].append(outcome)
    parts = [
        f"<section><h3>{escape(model.model)}</h3>",
        _k_table(model),
        "<h4>Per-category accuracy (Yes rate of questions, every k)</h4>",
        _bars(model.categories),
    ]
    for k, shown in sorted(by_k.items()):
        cards = "".join(_card(outcome, files) for outcome in shown)
        parts.append(f'<h4>k={k}: {len(shown)} images</h4><div class="grid">{cards}</div>')
    parts.append("</section>")
    return "".join(parts)


def _meta(results: ConceptResults) -> str:
    images = len(results.outcomes.images)
    empty = len(results.outcomes.empty_items)
    meta = (
        f"run {results.run_id or '?'} · grader {results.grader} · {len(results.models)} models "
        f"· {len(results.items)} items · {images} images"
    )
    return meta + (f" · {empty} items with no question left out" if empty else "")


def conceptmix_html(results: ConceptResults, files: ImageFiles) -> str:
    """The page, with the images read through `files`."""
    grouped: dict[str, list[ImageOutcome]] = defaultdict(list)
    for outcome in results.outcomes.images:
        grouped[outcome.model].append(outcome)
    sections = [_model_section(m, grouped[m.model], files) for m in results.metrics]
    page = Template(
        resources.files("skillmix.results").joinpath("templates/conceptmix.html").read_text()
    )
    name = results.config.get("name")
    return page.substitute(
        title=escape(name if isinstance(name, str) and name else results.run_id or "run"),
        meta=escape(_meta(results)),
        leaderboard=_table(leaderboard_frame(results), ("Model",)),
        models="".join(sections),
    )


def write_conceptmix_html(results: ConceptResults, files: ImageFiles, out: Path) -> Path:
    write_text(out, conceptmix_html(results, files))
    return out
