"""The binding step of item writing: a drawn concept set as the JSON plan a writer model
completes (which objects each relation joins, any object a relation or a size needs), and the
completed plan read back and checked.

The plan has the shape of the official refined configs: {"objects": [{"id", "item", <category>:
value}], "style": value, "relation": [{"name", "description", "ObjectA_id", "ObjectB_id"}]},
"?" marking what the writer fills in. With several styles drawn the plan holds the last one, as
the official code's does; every style stays a concept of the item.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from skillmix.catalog.concepts import ConceptCatalog
from skillmix.protocol.conceptmix.sampler import SPATIAL, STYLE, ConceptDraw

UNFILLED = "?"
FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*|\s*```\s*$")


class BadBinding(ValueError):
    """Why a completed plan is unusable; the attempt is redrawn."""


@dataclass(frozen=True)
class BoundRelation:
    value: str
    a: int  # indexes Binding.objects
    b: int


@dataclass(frozen=True)
class Binding:
    objects: tuple[str, ...]  # the drawn objects, then any the writer added
    relations: tuple[BoundRelation, ...]
    plan: dict[str, Any]  # the completed plan, as the writer gave it


def initial_plan(draw: ConceptDraw, catalog: ConceptCatalog) -> dict[str, Any]:
    objects: list[dict[str, Any]] = [
        {"id": number, "item": name} for number, name in enumerate(draw.objects, 1)
    ]
    plan: dict[str, Any] = {"objects": objects}
    for concept, owner in zip(draw.drawn, draw.owners, strict=True):
        if concept.category == STYLE:
            plan["style"] = concept.value
        elif concept.category == SPATIAL:
            plan.setdefault("relation", []).append(
                {
                    "name": concept.value,
                    "description": catalog.statement(concept, ("ObjectA", "ObjectB")),
                    "ObjectA_id": UNFILLED,
                    "ObjectB_id": UNFILLED,
                }
            )
        elif owner is not None:
            objects[owner][concept.category] = concept.value
    return plan


def plan_json(plan: dict[str, Any]) -> str:
    return json.dumps(plan, ensure_ascii=False)


def read_binding(reply: str, draw: ConceptDraw, catalog: ConceptCatalog) -> Binding:
    """The writer's completed plan; BadBinding when it is not JSON, changes the drawn objects
    or leaves a relation without its objects."""
    plan = _parsed(reply)
    objects = _objects(plan)
    drawn = [name.casefold() for name in draw.objects]
    if [name.casefold() for name in objects[: len(drawn)]] != drawn:
        raise BadBinding(f"the plan's first objects are not the drawn ones {list(draw.objects)}")
    relations = plan.get("relation", [])
    if not isinstance(relations, list):
        raise BadBinding('"relation" is not a list')
    spatial = catalog.values(SPATIAL) if SPATIAL in catalog.non_object_categories else ()
    return Binding(
        objects=tuple(objects),
        relations=tuple(_relation(r, len(objects), spatial) for r in relations),
        plan=plan,
    )


def _parsed(reply: str) -> dict[str, Any]:
    text = FENCE.sub("", reply.strip())
    try:
        plan = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        try:
            plan = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            plan = None
    if not isinstance(plan, dict):
        raise BadBinding("the reply holds no JSON object")
    return plan


def _objects(plan: dict[str, Any]) -> list[str]:
    entries = plan.get("objects")
    if not isinstance(entries, list) or not entries:
        raise BadBinding('"objects" is not a non-empty list')
    names = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or entry.get("id") != number:
            raise BadBinding(f'objects[{number - 1}] is not an object with "id" {number}')
        name = entry.get("item")
        if not isinstance(name, str) or not name.strip():
            raise BadBinding(f'objects[{number - 1}] has no "item"')
        names.append(name.strip())
    return names


def _relation(entry: Any, count: int, known: tuple[str, ...]) -> BoundRelation:
    if not isinstance(entry, dict):
        raise BadBinding("a relation is not an object")
    name = entry.get("name")
    if name not in known:
        raise BadBinding(f"unknown relation {name!r}")
    a = _object_id(entry.get("ObjectA_id"), count)
    b = _object_id(entry.get("ObjectB_id"), count)
    if a is None or b is None:
        raise BadBinding(f"relation {name!r} does not name two of the {count} objects")
    return BoundRelation(str(name), a - 1, b - 1)


def _object_id(value: Any, count: int) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= count:
        return value
    return None
