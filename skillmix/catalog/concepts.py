"""The ConceptMix concept catalog: categories, their values and statement templates, read from
our YAML file (data/concepts.yaml) with every error naming file, line and field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from skillmix.catalog.concept_templates import (
    CONCEPT_CATEGORIES,
    category_problem,
    english_plural,
    render_statement,
)
from skillmix.errors import SkillmixError, describe_validation
from skillmix.outputs import write_text
from skillmix.records import Concept
from skillmix.yamlfile import compose_yaml, load_yaml

__all__ = [
    "CONCEPT_CATEGORIES",
    "ConceptCatalog",
    "ConceptCategory",
    "ConceptValue",
    "check_category",
    "is_concepts_file",
    "load_concepts",
    "write_concepts_yaml",
]


class ConceptValue(BaseModel):
    """One value of a category; its own statement, when given, overrides the category's."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    name: str
    statement: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        is_name = isinstance(value, str | int | float) and not isinstance(value, bool)
        return {"name": value} if is_name else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("statement")
    @classmethod
    def _statement(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave it out to use the category's)")
        return value


class ConceptCategory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    statement: str
    values: tuple[ConceptValue, ...]

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value.strip() not in CONCEPT_CATEGORIES:
            known = ", ".join(CONCEPT_CATEGORIES)
            raise ValueError(f"unknown category {value!r} (known: {known})")
        return value.strip()

    @field_validator("statement")
    @classmethod
    def _statement(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def value(self, name: str) -> ConceptValue:
        for value in self.values:
            if value.name == name:
                return value
        raise KeyError(f"{self.name}: {name}")


def _hash(categories: tuple[ConceptCategory, ...]) -> str:
    blob = json.dumps([c.model_dump() for c in categories], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class ConceptCatalog:
    """The categories in file order; content_hash is computed from them."""

    categories: tuple[ConceptCategory, ...]
    content_hash: str = field(init=False)
    _names: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _others: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", _hash(self.categories))
        names = {c.name: tuple(v.name for v in c.values) for c in self.categories}
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_others", tuple(sorted(n for n in names if n != "object")))

    def category(self, name: str) -> ConceptCategory:
        for category in self.categories:
            if category.name == name:
                return category
        raise KeyError(name)

    def values(self, name: str) -> tuple[str, ...]:
        """The value names of a category, in file order."""
        return self._names[name]

    @property
    def objects(self) -> tuple[str, ...]:
        return self.values("object")

    @property
    def non_object_categories(self) -> tuple[str, ...]:
        """Sorted by name: the order the sampler draws from."""
        return self._others

    @property
    def value_count(self) -> int:
        return sum(len(c.values) for c in self.categories)

    def statement(
        self,
        concept: Concept,
        objects: tuple[str, ...] = (),
        *,
        plural: Callable[[str], str] = english_plural,
    ) -> str:
        """The concept's statement: `objects` is () for an object or a style, (object,) for an
        attribute, (a, b) for a spatial relation."""
        category = self.category(concept.category)
        value = category.value(concept.value)
        template = value.statement or category.statement
        return render_statement(template, concept, objects, plural)


def check_category(category: ConceptCategory) -> tuple[str, str] | None:
    """(field relative to the category, message) of its first problem, or None."""
    values = [(v.name, v.statement) for v in category.values]
    return category_problem(category.name, category.statement, values)


def _line(node: yaml.Node | None, path: tuple[int | str, ...]) -> int:
    """The line of the deepest node along `path` (0 when there is no node tree)."""
    line = node.start_mark.line + 1 if node is not None else 0
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _where(node: yaml.Node | None, index: int, loc: tuple[int | str, ...], rel: str) -> str:
    line = _line(node, ("categories", index, *loc))
    return f"line {line}: categories[{index}]" + (f".{rel}" if rel else "")


def _loc(rel: str) -> tuple[int | str, ...]:
    parts: list[int | str] = []
    for part in rel.replace("[", ".").replace("]", "").split("."):
        if part:
            parts.append(int(part) if part.isdigit() else part)
    return tuple(parts)


def _top_level(path: Path) -> tuple[list[Any], yaml.Node | None]:
    if not path.is_file():
        raise SkillmixError("file not found", file=path)
    data, node = compose_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise SkillmixError(
            "expected a top-level 'categories:' list", file=path, field="categories"
        )
    extra = [key for key in data if key != "categories"]
    if extra:
        raise SkillmixError("unknown key", file=path, field=str(extra[0]))
    return data["categories"], node


def _category(entry: Any, index: int, node: yaml.Node | None, path: Path) -> ConceptCategory:
    try:
        category = ConceptCategory.model_validate(entry)
    except ValidationError as exc:
        rel, message = describe_validation(exc)
        where = _where(node, index, tuple(exc.errors()[0]["loc"]), rel)
        raise SkillmixError(message, file=path, field=where) from None
    problem = check_category(category)
    if problem is not None:
        rel, message = problem
        raise SkillmixError(message, file=path, field=_where(node, index, _loc(rel), rel))
    return category


def load_concepts(path: Path) -> ConceptCatalog:
    """Our concepts YAML file, with every check `skillmix catalog validate` makes."""
    entries, node = _top_level(path)
    categories: list[ConceptCategory] = []
    for index, entry in enumerate(entries):
        category = _category(entry, index, node, path)
        if category.name in {c.name for c in categories}:
            where = _where(node, index, ("name",), "name")
            raise SkillmixError("duplicate category", file=path, field=where)
        categories.append(category)
    if "object" not in {c.name for c in categories}:
        raise SkillmixError("no 'object' category", file=path, field="categories")
    return ConceptCatalog(categories=tuple(categories))


def is_concepts_file(path: Path) -> bool:
    """Whether a YAML file is a concepts catalog (its top-level key is `categories`)."""
    if not path.is_file():
        return False
    data = load_yaml(path)
    return isinstance(data, dict) and "categories" in data


def _value_entry(value: ConceptValue) -> str | dict[str, str]:
    if value.statement is None:
        return value.name
    return {"name": value.name, "statement": value.statement}


def write_concepts_yaml(catalog: ConceptCatalog, path: Path, source_name: str) -> None:
    categories = [
        {
            "name": c.name,
            "statement": c.statement,
            "values": [_value_entry(v) for v in c.values],
        }
        for c in catalog.categories
    ]
    body = yaml.safe_dump(
        {"categories": categories}, sort_keys=False, allow_unicode=True, width=100
    )
    write_text(path, f"# ConceptMix concept catalog, imported from {source_name}\n{body}")
