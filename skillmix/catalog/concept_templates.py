"""Concept statement templates: which placeholders each category allows, their checks, and
rendering a statement for a concept."""

from __future__ import annotations

import string
from collections.abc import Callable

from skillmix.records import Concept

CONCEPT_CATEGORIES = (
    "object",
    "color",
    "number",
    "shape",
    "size",
    "texture",
    "style",
    "spatial",
)
ATTRIBUTE_PLACEHOLDERS = frozenset({"value", "object", "objects"})
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "object": frozenset({"value", "values"}),  # values: the value's plural
    "style": frozenset({"value"}),
    "spatial": frozenset({"value", "a", "b"}),
}
IRREGULAR_PLURALS = {
    "man": "men",
    "woman": "women",
    "child": "children",
    "person": "people",
    "mouse": "mice",
    "goose": "geese",
    "sheep": "sheep",
    "deer": "deer",
    "fish": "fish",
    "sushi": "sushi",
    "broccoli": "broccoli",
    "cactus": "cacti",
}


def allowed_placeholders(category: str) -> frozenset[str]:
    return PLACEHOLDERS.get(category, ATTRIBUTE_PLACEHOLDERS)


def placeholders(template: str) -> list[tuple[str, str, str | None]]:
    """(field name, format spec, conversion) of each placeholder; ValueError if malformed."""
    parsed = string.Formatter().parse(template)
    return [(name, spec or "", conv) for _, name, spec, conv in parsed if name is not None]


def template_problem(template: str, category: str, *, category_level: bool) -> str | None:
    """Why a statement template is unusable for its category, or None."""
    try:
        fields = placeholders(template)
    except ValueError as exc:
        return f"malformed placeholder ({exc}); write a literal brace as {{{{ or }}}}"
    allowed = allowed_placeholders(category)
    for name, spec, conv in fields:
        if name not in allowed:
            known = ", ".join(f"{{{n}}}" for n in sorted(allowed))
            return f"unknown placeholder {{{name}}} for {category} (allowed: {known})"
        if spec or conv:
            return f"placeholder {{{name}}} must be plain (no format spec or conversion)"
    names = {name for name, _, _ in fields}
    if category == "spatial" and not {"a", "b"} <= names:
        return "a spatial statement needs both {a} and {b}"
    if category_level and not names & {"value", "values"}:
        return "a category statement needs {value}" + (
            " or {values}" if category == "object" else ""
        )
    return None


def category_problem(
    category: str, statement: str, values: list[tuple[str, str | None]]
) -> tuple[str, str] | None:
    """(field relative to the category, message) of a category's first problem, or None."""
    problem = template_problem(statement, category, category_level=True)
    if problem:
        return "statement", problem
    if not values:
        return "values", "no values"
    seen: dict[str, int] = {}
    for index, (name, value_statement) in enumerate(values):
        if name.casefold() in seen:
            return (
                f"values[{index}].name",
                f"duplicate value (also values[{seen[name.casefold()]}])",
            )
        seen[name.casefold()] = index
        if value_statement is not None:
            problem = template_problem(value_statement, category, category_level=False)
            if problem:
                return f"values[{index}].statement", problem
    return None


def english_plural(noun: str) -> str:
    """A plural good enough for simple object names (the last word is inflected)."""
    head, _, last = noun.rpartition(" ")
    lower = last.lower()
    if lower in IRREGULAR_PLURALS:
        plural = IRREGULAR_PLURALS[lower]
    elif lower.endswith(("s", "x", "z", "ch", "sh")):
        plural = last + "es"
    elif lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return f"{head} {plural}" if head else plural


def render_statement(
    template: str, concept: Concept, objects: tuple[str, ...], plural: Callable[[str], str]
) -> str:
    """The template filled for a concept; `objects` as ConceptCatalog.statement takes them."""
    category, value = concept.category, concept.value
    if category == "spatial":
        _expect(objects, 2, category)
        a, b = objects
        fields = {"value": value, "a": a, "b": f"another {b}" if a == b else b}
    elif category in PLACEHOLDERS:
        _expect(objects, 0, category)
        fields = {"value": value, "values": plural(value)}
    else:
        _expect(objects, 1, category)
        fields = {"value": value, "object": objects[0], "objects": plural(objects[0])}
    return template.format(**fields)


def _expect(objects: tuple[str, ...], count: int, category: str) -> None:
    if len(objects) != count:
        raise ValueError(f"a {category} statement takes {count} objects, not {len(objects)}")
