"""The generations of an HTML report, paged: a run of any size gives pages of bounded size.

A run with at most `per_page` generations lists them all in the report itself. A bigger run
writes them to REPORT_items/page-NNNN.html (ordered by student, k, item), `per_page` per page,
each page self-contained with a filter box; the report lists every page by student and k, so
every generation is reachable in two clicks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from itertools import groupby
from pathlib import Path
from string import Template

from skillmix.outputs import write_text
from skillmix.records import GenerationRecord, GradingRecord, Item
from skillmix.results.build import RunData, RunResults
from skillmix.run.store import RunStore, StoredResponse

FILTER = (
    '<p><input class="filter" type="search" placeholder="filter: student, item, k=3, skill, '
    'status..." oninput="filterItems(this.value)"></p>'
)
FILTER_SCRIPT = """<script>
function filterItems(text) {
  const words = text.toLowerCase().split(/\\s+/).filter(Boolean);
  for (const item of document.querySelectorAll("details.item")) {
    const summary = item.querySelector("summary").textContent.toLowerCase();
    item.hidden = !words.every(word => summary.includes(word));
  }
}
</script>"""


@dataclass(frozen=True)
class Page:
    number: int
    generations: list[GenerationRecord]

    @property
    def name(self) -> str:
        return f"page-{self.number:04d}.html"


class ItemSections:
    """Renders generations with their prompts, replies and gradings, read from the store."""

    def __init__(self, store: RunStore, results: RunResults, items: list[Item]):
        self.store = store
        self.items = {item.item_id: item for item in items}
        self.gradings: dict[tuple[str, str, int], list[GradingRecord]] = {}
        for grading in results.gradings:
            key = (grading.student, grading.item_id, grading.gen)
            self.gradings.setdefault(key, []).append(grading)

    def ordered(self, generations: Sequence[GenerationRecord]) -> list[GenerationRecord]:
        """By student, k, item index and generation: the order of the pages."""

        def order(gen: GenerationRecord) -> tuple[str, int, int, int]:
            item = self.items[gen.item_id]
            return gen.student, item.k, item.index, gen.gen

        return sorted(generations, key=order)

    def k_of(self, gen: GenerationRecord) -> int:
        return self.items[gen.item_id].k

    def render(self, generations: Sequence[GenerationRecord]) -> str:
        responses = self.store.stored_responses(gen.turn2_key for gen in generations)
        return "".join(self._one(gen, responses.get(gen.turn2_key or "")) for gen in generations)

    def _one(self, gen: GenerationRecord, turn2: StoredResponse | None) -> str:
        item = self.items[gen.item_id]
        title = (
            f"{gen.student} · {gen.item_id} (k={item.k}) · gen {gen.gen} · {item.topic}: "
            f"{', '.join(item.skills)} · {gen.status}"
        )
        body = [
            _messages_html(turn2),
            f"<p><b>final reply</b></p><pre>{escape(turn2.text if turn2 else '')}</pre>",
            f"<p><b>graded answer</b></p><pre>{escape(gen.answer or '')}</pre>",
        ]
        if gen.reason:
            body.append(f"<p>reason: {escape(gen.reason)}</p>")
        for grading in self.gradings.get((gen.student, gen.item_id, gen.gen), []):
            points = json.dumps(grading.points) if grading.points else "–"
            body.append(
                f"<p><b>grading {grading.grading}</b> by {escape(grading.grader)} "
                f"({escape(grading.status)}): {escape(points)}</p>"
                f"<pre>{escape(grading.reply or '')}</pre>"
            )
        return f'<details class="item"><summary>{escape(title)}</summary>{"".join(body)}</details>'


def _messages_html(response: StoredResponse | None) -> str:
    if response is None:
        return ""
    messages = response.request.get("messages", [])
    return "".join(
        f"<p><b>{escape(m['role'])}</b></p><pre>{escape(m['content'])}</pre>" for m in messages
    )


def items_html(
    store: RunStore, data: RunData, results: RunResults, out: Path, per_page: int
) -> str:
    """The report's items section; the pages, when the run needs them, beside `out`."""
    sections = ItemSections(store, results, data.items)
    title = data.config.name
    generations = sections.ordered(results.generations)
    folder = out.with_name(f"{out.stem}_items")
    if len(generations) <= per_page:
        shutil.rmtree(folder, ignore_errors=True)  # pages of an earlier, bigger report
        note = f"<p class='note'>All {len(generations)} generations.</p>"
        return note + FILTER + sections.render(generations) + FILTER_SCRIPT
    pages = list(_pages(generations, per_page))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in set(folder.glob("page-*.html")) - {folder / p.name for p in pages}:
        stale.unlink()
    template = Template(
        resources.files("skillmix.results").joinpath("templates/items_page.html").read_text()
    )
    for page in pages:
        body = FILTER + sections.render(page.generations) + FILTER_SCRIPT
        html = template.substitute(
            title=escape(title),
            heading=escape(f"{title}: page {page.number} of {len(pages)}"),
            report=escape(f"../{out.name}"),
            links=_neighbours(page.number, len(pages)),
            items=body,
        )
        write_text(folder / page.name, html)
    return _index(sections, pages, folder.name, len(generations))


def _pages(generations: list[GenerationRecord], per_page: int) -> Iterator[Page]:
    for start in range(0, len(generations), per_page):
        yield Page(start // per_page + 1, generations[start : start + per_page])


def _neighbours(number: int, count: int) -> str:
    links = []
    if number > 1:
        links.append(f'<a href="page-{number - 1:04d}.html">previous</a>')
    if number < count:
        links.append(f'<a href="page-{number + 1:04d}.html">next</a>')
    return " · ".join(links)


def _index(sections: ItemSections, pages: list[Page], folder: str, total: int) -> str:
    """One row per student and k, linking each page that holds some of its generations."""
    where: dict[tuple[str, int], list[int]] = {}
    counts: dict[tuple[str, int], dict[str, int]] = {}
    for page in pages:
        for gen in page.generations:
            key = (gen.student, sections.k_of(gen))
            if not where.setdefault(key, []) or where[key][-1] != page.number:
                where[key].append(page.number)
            status = counts.setdefault(key, {})
            status[gen.status] = status.get(gen.status, 0) + 1
    rows = []
    for student, keys in groupby(sorted(where), key=lambda key: key[0]):
        for key in keys:
            links = " ".join(f'<a href="{folder}/page-{n:04d}.html">{n}</a>' for n in where[key])
            statuses = ", ".join(f"{s} {n}" for s, n in sorted(counts[key].items()))
            rows.append(
                f'<tr><td class="text">{escape(student)}</td><td>{key[1]}</td>'
                f'<td class="text">{escape(statuses)}</td><td class="text">{links}</td></tr>'
            )
    head = '<tr><th class="text">model</th><th>k</th><th class="text">generations</th>'
    return (
        f"<p class='note'>{total} generations on {len(pages)} pages of up to "
        f"{len(pages[0].generations)} (in {escape(folder)}/), by model and k.</p>"
        f'<table id="item-pages">{head}<th class="text">pages</th></tr>{"".join(rows)}</table>'
    )
