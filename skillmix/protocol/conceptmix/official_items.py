"""The released ConceptMix prompts (sentence_collection/300_sentences_k={k}.json) as items,
and items written out in the same format.

Each file is a JSON list of {"index", "sentence", "categories", "skills", "question"}. Blank
questions are dropped and the rest stripped; a question carries its concept only when the
question and concept counts agree (the official grading just walks the question list).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skillmix.catalog.concept_templates import CONCEPT_CATEGORIES
from skillmix.catalog.concepts import ConceptCatalog
from skillmix.catalog.official_concepts import read_json
from skillmix.errors import SkillmixError
from skillmix.outputs import write_text
from skillmix.records import Concept, ConceptItem, Question

FIELDS: dict[str, type] = {
    "index": int,
    "sentence": str,
    "categories": list,
    "skills": list,
    "question": list,
}
TYPE_NAMES = {int: "an integer", str: "a string", list: "a list"}
WRITTEN_NAME = "sentences_k={k}.json"
PLANS_NAME = "refined_config_k={k}.json"


def items_file(folder: Path, k: int) -> Path:
    """The official name, or the name skillmix writes its written items under."""
    official = folder / f"300_sentences_k={k}.json"
    ours = folder / WRITTEN_NAME.format(k=k)
    return ours if not official.is_file() and ours.is_file() else official


def _bad(message: str, path: Path, where: str) -> SkillmixError:
    return SkillmixError(message, file=path, field=where)


def _checked_entry(entry: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise _bad("expected an object", path, where)
    for key, kind in FIELDS.items():
        if key not in entry:
            raise _bad("required key is missing", path, f"{where}.{key}")
        value = entry[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _bad(f"must be {TYPE_NAMES[kind]}", path, f"{where}.{key}")
    for key in ("categories", "skills", "question"):
        for j, text in enumerate(entry[key]):
            if not isinstance(text, str):
                raise _bad("must be a string", path, f"{where}.{key}[{j}]")
    if not entry["sentence"].strip():
        raise _bad("must not be empty", path, f"{where}.sentence")
    if len(entry["categories"]) != len(entry["skills"]):
        counts = f"{len(entry['skills'])} skills for {len(entry['categories'])} categories"
        raise _bad(f"{counts}: they must pair up", path, f"{where}.skills")
    return entry


def _check_concepts(
    entry: dict[str, Any], catalog: ConceptCatalog | None, path: Path, where: str
) -> None:
    known = [c.name for c in catalog.categories] if catalog else list(CONCEPT_CATEGORIES)
    for j, (category, value) in enumerate(zip(entry["categories"], entry["skills"], strict=True)):
        if category not in known:
            message = f"unknown category {category!r} (known: {', '.join(known)})"
            raise _bad(message, path, f"{where}.categories[{j}]")
        if catalog is not None and value not in catalog.values(category):
            raise _bad(f"unknown {category} value {value!r}", path, f"{where}.skills[{j}]")


def _item(entry: dict[str, Any], k: int) -> ConceptItem:
    concepts = tuple(
        Concept(category=c, value=v)
        for c, v in zip(entry["categories"], entry["skills"], strict=True)
    )
    texts = [q.strip() for q in entry["question"] if q.strip()]
    return ConceptItem(
        item_id=concept_item_id(k, entry["index"]),
        k=k,
        index=entry["index"],
        prompt=entry["sentence"],
        concepts=concepts,
        questions=paired_questions(texts, concepts),
        source="official",
    )


def concept_item_id(k: int, index: int) -> str:
    return f"k{k}-{index:04d}"


def paired_questions(texts: list[str], concepts: tuple[Concept, ...]) -> tuple[Question, ...]:
    """The questions, each with its concept when there are as many questions as concepts."""
    if len(texts) != len(concepts):
        return tuple(Question(text=t) for t in texts)
    return tuple(
        Question(text=t, category=c.category, value=c.value)
        for t, c in zip(texts, concepts, strict=True)
    )


def read_k_file(path: Path, k: int, catalog: ConceptCatalog | None = None) -> list[ConceptItem]:
    """One k's file, its items sorted by index."""
    if not path.is_file():
        raise SkillmixError(f"file not found (the items of k={k})", file=path)
    data = read_json(path)
    if not isinstance(data, list):
        raise SkillmixError("expected a JSON list of items", file=path)
    seen: dict[int, int] = {}
    items = []
    for i, raw in enumerate(data):
        entry = _checked_entry(raw, path, f"[{i}]")
        if entry["index"] in seen:
            message = f"duplicate index {entry['index']} (also [{seen[entry['index']]}])"
            raise _bad(message, path, f"[{i}].index")
        seen[entry["index"]] = i
        _check_concepts(entry, catalog, path, f"[{i}]")
        items.append(_item(entry, k))
    return sorted(items, key=lambda item: item.index)


def read_official_items(
    folder: Path,
    ks: list[int],
    per_k: int | None,
    catalog: ConceptCatalog | None = None,
) -> list[ConceptItem]:
    """The items of each k in ks (the first per_k by index; None: all), k by k; a file with
    fewer than per_k items is an error. With a catalog, every category and value must be in it."""
    if per_k is not None and per_k < 0:
        raise ValueError(f"per_k must be 0 or more, not {per_k}")
    if not folder.is_dir():
        raise SkillmixError("folder not found", file=folder)
    items: list[ConceptItem] = []
    for k in ks:
        path = items_file(folder, k)
        found = read_k_file(path, k, catalog)
        if per_k is not None and per_k > len(found):
            message = f"holds {len(found)} items; items_per_k asks for {per_k}"
            raise SkillmixError(message, file=path)
        items += found if per_k is None else found[:per_k]
    return items


def write_official_items(items: list[ConceptItem], folder: Path) -> None:
    """Items in the official format, k by k: the prompts and questions (sentences_k={k}.json,
    read back by read_official_items) and, for written items, their plans beside them."""
    for k in sorted({item.k for item in items}):
        of_k = [item for item in items if item.k == k]
        entries = [
            {
                "index": item.index,
                "sentence": item.prompt,
                "categories": [c.category for c in item.concepts],
                "skills": [c.value for c in item.concepts],
                "question": [q.text for q in item.questions],
            }
            for item in of_k
        ]
        write_text(folder / WRITTEN_NAME.format(k=k), json.dumps(entries, indent=1) + "\n")
        plans = [{**json.loads(i.plan), "index": i.index} for i in of_k if i.plan is not None]
        if plans:
            write_text(folder / PLANS_NAME.format(k=k), json.dumps(plans, indent=1) + "\n")
